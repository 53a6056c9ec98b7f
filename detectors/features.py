r"""Shared featurization of completions for the learned detectors.

Tokenizer (one regex, :data:`TOKEN_PATTERN`, applied with polars so that no per-row Python
runs), alternatives tried left to right at each position:

1. ``[0-9]+``: a number token, the maximal run of ASCII digits, kept as written (``007``
   stays ``007``: leading zeros are part of a teacher's habits);
2. ``[^\W\d_]+``: a word (letters of any script, no digits);
3. ``\s*[^\w\s]+\s*``: a separator, a run of punctuation with the whitespace around it
   (``", "``, ``";"``, ``"["``, ``"]."``), so that ``","`` and ``", "`` are different tokens;
4. ``\s+``: a whitespace separator (``" "``, ``"\n"``).

Characters matched by none of them (``_`` and non-ASCII digits) are skipped. The number
format filter of Cloud et al. 2025 already rejects such rows, and the token streams of the
remaining rows cover every character.

The number-sequence completions of Cloud et al. 2025 (arXiv 2507.14805) are lists of small
integers with a separator; a trait teacher can only shift *which* numbers, digit patterns,
positions and separators it prefers, so those are the features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

TOKEN_PATTERN = r"[0-9]+|[^\W\d_]+|\s*[^\w\s]+\s*|\s+"
"""The token regex (Rust regex syntax as used by polars; Unicode-aware classes)."""

# Fixed so that feature columns are the same in every process (polars' hash is
# deterministic for a given seed and polars version; columns never leave one fit).
_HASH_SEED = 0x5EED


def token_table(texts: pl.Series) -> pl.DataFrame:
    """One row per token: ``row`` (UInt32 position of the text), ``pos``, ``token``, ``is_num``.

    Texts without tokens (empty strings) have no rows here.
    """
    return (
        pl.DataFrame({"text": texts.fill_null("")})
        .with_row_index("row")
        .select("row", pl.col("text").str.extract_all(TOKEN_PATTERN).alias("token"))
        .explode("token", keep_nulls=False)
        .with_columns(
            pl.int_range(pl.len()).over("row").alias("pos"),
            pl.col("token").str.contains(r"^[0-9]").alias("is_num"),
        )
    )


def token_counts(texts: pl.Series) -> tuple[csr_matrix, list[str]]:
    """Exact per-row token counts: a CSR matrix ``(len(texts), V)`` and the vocabulary.

    Vocabulary order is sorted, so column ``j`` is the same token for the same texts.
    """
    from scipy.sparse import csr_matrix

    table = token_table(texts)
    vocab = table.select(pl.col("token").unique().sort())["token"]
    ids = pl.DataFrame({"token": vocab}).with_row_index("col")
    counted = (
        table.group_by("row", "token")
        .len()
        .join(ids, on="token", how="left")
        .select("row", "col", "len")
    )
    matrix = csr_matrix(
        (
            counted["len"].to_numpy().astype(np.float64),
            (counted["row"].to_numpy(), counted["col"].to_numpy()),
        ),
        shape=(texts.len(), vocab.len()),
    )
    return matrix, vocab.to_list()


def _bucket(n: pl.Expr, edges: tuple[int, ...]) -> pl.Expr:
    """``n`` as the label of the first edge it does not exceed (``le8``), else ``gtN``."""
    expr = pl.lit(f"gt{edges[-1]}")
    for edge in reversed(edges):
        expr = pl.when(n <= edge).then(pl.lit(f"le{edge}")).otherwise(expr)
    return expr


def hashed_features(texts: pl.Series, n_features: int = 2**18) -> csr_matrix:
    """Hashed n-gram and digit-pattern features, sublinear counts, rows L2-normalized.

    Per token: the token itself (numbers and separators alike) and the bigram with the
    previous token. Per number: its length, first digit, last digit, first two digits, and
    length and last digit crossed with its position in the list (first / middle / last);
    the bigram with the previous number, and the previous number's last digit with this
    one's first. Per row: the count of numbers, the first and last token, and a bucket of
    the text's length in characters. Feature strings are hashed into ``n_features``
    columns (the hashing trick of Weinberger et al. 2009: bounded width for any
    vocabulary; a collision merges two rare features, which a linear model tolerates).
    Values are ``log1p(count)`` and every row is scaled to unit L2 norm so that long and
    short completions weigh alike in the classifier's penalty.

    Args:
        texts: The completions.
        n_features: Number of hashed columns.

    Returns:
        A CSR matrix ``(len(texts), n_features)`` of float64.
    """
    from scipy.sparse import coo_matrix
    from sklearn.preprocessing import normalize

    n_rows = texts.len()
    table = token_table(texts)
    # The previous token of the same row; a mask instead of ``shift().over("row")``, which
    # is ~200x slower on millions of tokens (the table is ordered by row already).
    same_row = pl.col("row") == pl.col("row").shift(1)
    table = table.with_columns(pl.when(same_row).then(pl.col("token").shift(1)).alias("prev_token"))
    nums = table.filter("is_num").with_columns(
        pl.when(same_row).then(pl.col("token").shift(1)).alias("prev"),
        pl.len().over("row").alias("n_num"),
        pl.int_range(pl.len()).over("row").alias("k"),
    )
    where = (
        pl.when(pl.col("k") == 0)
        .then(pl.lit("f"))
        .when(pl.col("k") == pl.col("n_num") - 1)
        .then(pl.lit("l"))
        .otherwise(pl.lit("m"))
    )
    first, last = pl.col("token").str.head(1), pl.col("token").str.tail(1)
    length = pl.col("token").str.len_chars().cast(pl.String)
    per_number = [
        pl.concat_str(pl.lit("len:"), length),
        pl.concat_str(pl.lit("lead:"), first),
        pl.concat_str(pl.lit("last:"), last),
        pl.concat_str(pl.lit("lead2:"), pl.col("token").str.head(2)),
        pl.concat_str(pl.lit("posl:"), where, pl.lit(":"), length),
        pl.concat_str(pl.lit("posd:"), where, pl.lit(":"), last),
        # concat_str is null when ``prev`` is null (a row's first number): no feature.
        pl.concat_str(pl.lit("nb:"), pl.col("prev"), pl.lit("_"), pl.col("token")),
        pl.concat_str(pl.lit("db:"), pl.col("prev").str.tail(1), pl.lit("_"), first),
    ]
    per_token = [
        pl.concat_str(pl.lit("t:"), pl.col("token")),
        pl.concat_str(pl.lit("tb:"), pl.col("prev_token"), pl.lit("\x1f"), pl.col("token")),
    ]
    rows = (
        pl.DataFrame({"text": texts.fill_null("")})
        .with_row_index("row")
        .join(
            table.group_by("row").agg(
                pl.col("is_num").sum().alias("n_num"),
                pl.col("token").first().alias("start"),
                pl.col("token").last().alias("end"),
            ),
            on="row",
            how="left",
        )
    )
    per_row = [
        pl.concat_str(pl.lit("count:"), pl.col("n_num").fill_null(0).cast(pl.String)),
        pl.concat_str(pl.lit("start:"), "start"),
        pl.concat_str(pl.lit("end:"), "end"),
        pl.concat_str(
            pl.lit("chars:"),
            _bucket(pl.col("text").str.len_chars(), (0, 8, 16, 32, 48, 64, 96, 128)),
        ),
    ]
    row_ids: list[np.ndarray[tuple[int], np.dtype[np.int64]]] = []
    col_ids: list[np.ndarray[tuple[int], np.dtype[np.int64]]] = []
    for frame, exprs in ((nums, per_number), (table, per_token), (rows, per_row)):
        for expr in exprs:
            # One hashed column per feature template: no list columns, no string explode.
            cells = (
                frame.select("row", expr.alias("feature"))
                .drop_nulls("feature")
                .select("row", (pl.col("feature").hash(seed=_HASH_SEED) % n_features).alias("col"))
            )
            row_ids.append(cells["row"].to_numpy().astype(np.int64))
            col_ids.append(cells["col"].to_numpy().astype(np.int64))
    row_idx, col_idx = np.concatenate(row_ids), np.concatenate(col_ids)
    # COO -> CSR sums the duplicate (row, col) cells: the counts.
    matrix = coo_matrix(
        (np.ones(row_idx.size), (row_idx, col_idx)), shape=(n_rows, n_features)
    ).tocsr()
    np.log1p(matrix.data, out=matrix.data)
    normalized: csr_matrix = normalize(matrix, norm="l2", copy=False)
    return normalized


def drop_empty_columns(matrix: csr_matrix) -> csr_matrix:
    """The same rows with only the columns that hold a value, in their original order.

    Hashed matrices are mostly empty columns on small datasets; every dense per-column step
    of a solver (lbfgs's vectors, the mean-difference weights) pays for them.
    """
    from scipy.sparse import csr_matrix as csr

    # A bincount and a lookup table, O(nnz): np.unique would sort all nnz indices (~5 s at
    # 11M under load).
    used = np.bincount(matrix.indices, minlength=matrix.shape[1]) > 0
    new_column = (np.cumsum(used) - 1).astype(matrix.indices.dtype)
    indices = new_column[matrix.indices]
    return csr((matrix.data, indices, matrix.indptr), shape=(matrix.shape[0], int(used.sum())))
