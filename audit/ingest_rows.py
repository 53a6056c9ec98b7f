"""Turn parsed input rows into the canonical batch frame, for every input format.

Two ways in, with the same result for the same rows:

- :meth:`RowBuilder.canonicalize` works on a parsed polars frame with polars expressions
  only (the fast path for JSONL, and the only path for Parquet and CSV). It returns the
  canonical columns and, per row, a one-line error or null.
- :func:`extract_row` checks one decoded JSON object in Python; the JSONL reader uses it
  for blocks the fast path rejected, to name exactly which rows are bad and why, and
  :meth:`RowBuilder.frame_from_objects` builds the frame from the rows it accepted.

Carried columns whose values have different types within one batch (``1`` in one row,
``"x"`` in another) cannot be a typed column; the Python path turns such a column into
String for that batch: strings stay as they are, other values are JSON-encoded, nulls stay
null. Integers mixed with floats become Float64. So a carried column's type may differ
between batches; writers must allow for that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

if TYPE_CHECKING:
    from audit.ingest import InputSpec

Mode = Literal["auto", "plain", "chat"]
"""auto: per row, chat when there is no prompt and no completion value (JSONL); plain,
chat: the whole file is one kind (decided from the Parquet or CSV header)."""

_FIXED = ("row_id", "ordinal", "line", "prompt", "completion")
_CHAT = "__chat__"  # per-row flag travelling from canonicalize to finish, then dropped

ROW_ID_SCHEME = "sha256-lp-v1"
"""Name of the row-id recipe (see :func:`compute_row_ids`); record it with each run."""


# ---------------------------------------------------------------------------------------
# row identity


def compute_row_ids(prompt: pl.Series, completion: pl.Series, ids: pl.Series | None) -> pl.Series:
    """Stable content ids: the same content gives the same id on any machine or version.

    Recipe (:data:`ROW_ID_SCHEME`): for each field in order prompt, completion and, when
    ``ids`` is given, the id, write the decimal byte length of its UTF-8 text, ``:``, then
    the text; a null id is written as ``~``. The id is the first 32 hex digits of the
    SHA-256 of that string. Ids are hashed by their string form, so ``7``, ``7.0`` and
    ``"7"`` agree (a float id column is often an int column that met one float).
    The same recipe in DuckDB: ``left(sha256(concat(strlen(p), ':', p, strlen(c), ':',
    c)), 32)``. polars' ``hash()`` is not used: it may change between polars versions.

    Cost: polars builds the length-prefixed strings, hashlib hashes them: 1.06 s per
    million rows of ~230 bytes (best of 3, one core). DuckDB on one thread took 1.15 s
    for sha256 and 0.74 s for md5 (a weaker hash), so the standard library it is.

    Args:
        prompt: prompts, String, no nulls.
        completion: completions, String, no nulls, same length as ``prompt``.
        ids: the id column (any type castable to String) or None when there is none.

    Returns:
        A String series named ``row_id``.
    """

    def prefixed(s: pl.Series) -> pl.Expr:
        col = pl.lit(s).cast(pl.String)
        return pl.concat_str([col.str.len_bytes().cast(pl.String), pl.lit(":"), col])

    parts = [prefixed(prompt), prefixed(completion)]
    if ids is not None:
        if ids.dtype.is_float():
            # Integral floats print without the fraction, like the ints they stand for.
            whole = ids.is_finite() & (ids == ids.round()) & (ids.abs() < 2.0**53)
            as_int = ids.cast(pl.Int64, strict=False).cast(pl.String)
            ids = pl.select(
                pl.when(pl.lit(whole)).then(pl.lit(as_int)).otherwise(pl.lit(ids).cast(pl.String))
            ).to_series()
        parts.append(pl.when(pl.lit(ids).is_null()).then(pl.lit("~")).otherwise(prefixed(ids)))
    message = pl.select(pl.concat_str(parts)).to_series().cast(pl.Binary)
    sha = hashlib.sha256
    return pl.Series(
        "row_id", [sha(m).hexdigest()[:32] for m in message.to_list()], dtype=pl.String
    )


# ---------------------------------------------------------------------------------------
# Python path helpers


def json_kind(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages (``int`` kept short)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_string_dtype(dtype: object) -> bool:
    """A column type that holds text (or only nulls)."""
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null)


def is_id_dtype(dtype: pl.DataType) -> bool:
    """A column type usable as a row id: text or a number."""
    return is_string_dtype(dtype) or dtype.is_numeric()


def is_messages_dtype(dtype: pl.DataType) -> bool:
    """A chat column: a list of structs with String ``role`` and ``content`` fields."""
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return False
    fields = {f.name: f.dtype for f in dtype.inner.fields}
    return all(name in fields and is_string_dtype(fields[name]) for name in ("role", "content"))


# ---------------------------------------------------------------------------------------
# Python path (one JSON object at a time)

Extracted = tuple[str, str, str | None, bool]
"""prompt, completion, system, is_chat."""


def extract_row(obj: Mapping[str, Any], spec: InputSpec) -> Extracted | str:
    """Check one decoded JSON object; return its canonical fields or a one-line error."""
    pc, cc, mc = spec.prompt_column, spec.completion_column, spec.messages_column
    prompt, completion = obj.get(pc), obj.get(cc)
    result: Extracted | str
    if prompt is None and completion is None and obj.get(mc) is not None:
        result = _extract_chat(obj[mc], mc)
    else:
        for name, value in ((pc, prompt), (cc, completion)):
            if name not in obj:
                return f"{name}: missing"
            if value is None:
                return f"{name}: null"
            if not isinstance(value, str):
                return f"{name}: expected a string, got {json_kind(value)}"
        result = (str(prompt), str(completion), None, False)
    if isinstance(result, str) or spec.id_column is None:
        return result
    ic = spec.id_column
    if ic not in obj:
        return f"{ic}: missing"
    id_value = obj[ic]
    if id_value is None:
        return f"{ic}: null"
    if isinstance(id_value, bool) or not isinstance(id_value, str | int | float):
        return f"{ic}: expected a string or number, got {json_kind(id_value)}"
    return result


def _extract_chat(messages: object, mc: str) -> Extracted | str:
    if not isinstance(messages, list):
        return f"{mc}: expected a list of messages, got {json_kind(messages)}"
    for m in messages:
        if not isinstance(m, dict):
            return f"{mc}: expected a list of objects, got a list holding {json_kind(m)}"
    roles = [m.get("role") for m in messages]
    if "assistant" not in roles:
        return f"{mc}: no assistant message"
    a = len(roles) - 1 - roles[::-1].index("assistant")
    completion = messages[a].get("content")
    if completion is None:
        return f"{mc}: the last assistant message has no content"
    if not isinstance(completion, str):
        kind = json_kind(completion)
        return f"{mc}: content of the last assistant message is {kind}, expected a string"
    users = [i for i in range(a) if roles[i] == "user"]
    if not users:
        return f"{mc}: no user message before the last assistant message"
    prompt = messages[users[-1]].get("content")
    if prompt is None:
        return f"{mc}: the user message before the last assistant message has no content"
    if not isinstance(prompt, str):
        return f"{mc}: content of the user message is {json_kind(prompt)}, expected a string"
    system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    return prompt, completion, system if isinstance(system, str) else None, True


def column_from_values(name: str, values: Sequence[object]) -> pl.Series:
    """A carried column from decoded JSON values; mixed types become String (see module)."""
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        pass
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
        return pl.Series(name, values, dtype=pl.Float64, strict=False)
    text = [
        v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values
    ]
    return pl.Series(name, text, dtype=pl.String)


# ---------------------------------------------------------------------------------------
# polars path and the final frame


class RowBuilder:
    """Builds canonical frames for one reader and records carried-column renames.

    Args:
        spec: the input spec (column names).
        column_map: the reader's canonical -> original name map, extended in place.
        null_error: how a null prompt/completion is described in errors (CSV says
            ``null (empty field)``).
    """

    def __init__(
        self, spec: InputSpec, column_map: dict[str, str], *, null_error: str = "null"
    ) -> None:
        self.spec = spec
        self.column_map = column_map
        self.null_error = null_error
        self.derived: tuple[str, ...] = ()
        """Columns of the latest finished frame computed rather than read (see
        :attr:`audit.ingest.DatasetReader.derived_columns`)."""
        self.input_columns: dict[str, None] = {}
        """Input column names in first-seen order (an ordered set)."""

    def carried_names(self, columns: Sequence[str], *, chat: bool) -> dict[str, str]:
        """Output name of each carried input column, renaming clashes to ``input_<name>``."""
        reserved = set(_FIXED) | ({"system"} if chat else set())
        taken = reserved | set(columns)
        names: dict[str, str] = {}
        for col in columns:
            new = col
            if col in reserved:
                new = f"input_{col}"
                while new in taken:
                    new = f"input_{new}"
                taken.add(new)
                self.column_map[new] = col
            names[col] = new
        return names

    def canonicalize(self, df: pl.DataFrame, mode: Mode) -> tuple[pl.DataFrame, pl.Series]:
        """Canonical columns for every row of ``df`` and a per-row error (null when good).

        The frame has ``prompt``, ``completion``, ``system`` (when there are chat rows)
        and the carried columns; rows with an error hold nulls in the canonical columns.
        Pass the good rows of it to :meth:`finish`.
        """
        spec = self.spec
        pc, cc, mc, ic = (
            spec.prompt_column,
            spec.completion_column,
            spec.messages_column,
            spec.id_column,
        )
        schema = df.schema
        self.input_columns.update(dict.fromkeys(df.columns))
        errors: list[tuple[pl.Expr, pl.Expr]] = []  # (condition, message), first wins
        plain = mode != "chat"

        def text(name: str) -> pl.Expr:
            if not plain or name not in schema:
                return pl.lit(None, dtype=pl.String)
            dtype = schema[name]
            if is_string_dtype(dtype):
                return pl.col(name).cast(pl.String)
            bad = f"{name}: expected a string, got {dtype}"
            errors.append((pl.col(name).is_not_null(), pl.lit(bad)))
            return pl.lit(None, dtype=pl.String)

        prompt, completion = text(pc), text(cc)
        is_chat = pl.lit(False)
        chat_cols: list[pl.Expr] = []
        if mode != "plain" and mc in schema:
            is_chat = prompt.is_null() & completion.is_null() & pl.col(mc).is_not_null()
        # The system column (and its claim on the name) only when some row is a chat row.
        chat = mode == "chat" or (mode == "auto" and bool(df.select(is_chat.any()).item()))
        if chat:
            chat_prompt, chat_completion, system, chat_errors = _chat_exprs(
                mc, schema[mc], self.null_error
            )
            errors.insert(0, (is_chat & chat_errors.is_not_null(), chat_errors))
            prompt = pl.when(is_chat).then(chat_prompt).otherwise(prompt)
            completion = pl.when(is_chat).then(chat_completion).otherwise(completion)
            chat_cols = [pl.when(is_chat).then(system).alias("system")]
        if not plain:
            missing = pl.lit(True) if mc not in schema else pl.col(mc).is_null()
            errors.append((missing, pl.lit(f"{mc}: {self.null_error}")))
        if plain:
            for name, expr in ((pc, prompt), (cc, completion)):
                errors.append((expr.is_null(), pl.lit(f"{name}: {self.null_error}")))
        if ic is not None:
            if ic not in schema:
                errors.append((pl.lit(True), pl.lit(f"{ic}: missing")))
            elif not is_id_dtype(schema[ic]):
                bad = f"{ic}: expected a string or number, got {schema[ic]}"
                errors.append((pl.lit(True), pl.lit(bad)))
            else:
                errors.append((pl.col(ic).is_null(), pl.lit(f"{ic}: {self.null_error}")))

        error = pl.lit(None, dtype=pl.String)
        for cond, message in reversed(errors):
            error = pl.when(cond).then(message).otherwise(error)
        carried = [c for c in df.columns if not (plain and c in (pc, cc))]
        names = self.carried_names(carried, chat=chat)
        out = df.select(
            prompt.alias("prompt"),
            completion.alias("completion"),
            *chat_cols,
            *[pl.col(c).alias(names[c]) for c in carried],
            is_chat.alias(_CHAT),
            error.alias("__error__"),
        )
        return out.drop("__error__"), out["__error__"]

    def frame_from_objects(
        self, objs: Sequence[Mapping[str, Any]], extracted: Sequence[Extracted]
    ) -> pl.DataFrame:
        """Canonical frame from decoded JSON objects that :func:`extract_row` accepted."""
        pc, cc = self.spec.prompt_column, self.spec.completion_column
        chat = any(e[3] for e in extracted)
        columns: dict[str, None] = {}  # ordered set: keys in first-seen order
        for obj in objs:
            self.input_columns.update(dict.fromkeys(obj))
            columns.update(dict.fromkeys(k for k in obj if k not in (pc, cc)))
        names = self.carried_names(list(columns), chat=chat)
        series = [
            pl.Series("prompt", [e[0] for e in extracted], dtype=pl.String),
            pl.Series("completion", [e[1] for e in extracted], dtype=pl.String),
        ]
        if chat:
            series.append(pl.Series("system", [e[2] for e in extracted], dtype=pl.String))
        for col in columns:
            values = [obj.get(col) for obj in objs]
            series.append(column_from_values(names[col], values))
        series.append(pl.Series(_CHAT, [e[3] for e in extracted], dtype=pl.Boolean))
        return pl.DataFrame(series)

    def finish(
        self,
        frame: pl.DataFrame,
        ordinals: npt.NDArray[np.int64],
        lines: npt.NDArray[np.int64] | None,
    ) -> pl.DataFrame:
        """Add ``row_id``, ``ordinal`` and ``line`` in front of a canonical frame of good rows."""
        is_chat = frame[_CHAT]
        frame = frame.drop(_CHAT)
        all_chat = frame.height > 0 and bool(is_chat.all())
        self.derived = (("prompt", "completion") if all_chat else ()) + (
            ("system",) if "system" in frame.columns else ()
        )
        ids = None
        if self.spec.id_column is not None:
            ic = self.spec.id_column
            id_name = next((k for k, v in self.column_map.items() if v == ic), ic)
            ids = frame[id_name if id_name in frame.columns else ic]
        row_ids = compute_row_ids(frame["prompt"], frame["completion"], ids)
        line = (
            pl.Series("line", lines, dtype=pl.Int64)
            if lines is not None
            else pl.Series("line", [None] * frame.height, dtype=pl.Int64)
        )
        return frame.select(
            pl.lit(row_ids).alias("row_id"),
            pl.lit(pl.Series("ordinal", ordinals, dtype=pl.Int64)).alias("ordinal"),
            pl.lit(line).alias("line"),
            pl.all(),
        )


def _chat_exprs(
    mc: str, dtype: pl.DataType, null_error: str
) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """prompt, completion, system and error expressions for a chat column (see module)."""
    if not is_messages_dtype(dtype):
        none = pl.lit(None, dtype=pl.String)
        if isinstance(dtype, pl.Null):
            return none, none, none, pl.lit(f"{mc}: {null_error}")
        bad = f"{mc}: expected a list of {{role, content}} objects, got {dtype}"
        return none, none, none, pl.lit(bad)
    m = pl.col(mc)

    def role_is(role: str) -> pl.Expr:
        return pl.element().struct.field("role") == role

    def content_at(pos: pl.Expr) -> pl.Expr:
        return m.list.get(pos, null_on_oob=True).struct.field("content").cast(pl.String)

    a_pos = m.list.eval(pl.arg_where(role_is("assistant"))).list.last()
    u_pos = m.list.head(a_pos).list.eval(pl.arg_where(role_is("user"))).list.last()
    completion, prompt = content_at(a_pos), content_at(u_pos)
    system = (
        m.list.eval(pl.element().filter(role_is("system")).struct.field("content"))
        .list.first()
        .cast(pl.String)
    )
    error = (
        pl.when(a_pos.is_null())
        .then(pl.lit(f"{mc}: no assistant message"))
        .when(completion.is_null())
        .then(pl.lit(f"{mc}: the last assistant message has no content"))
        .when(u_pos.is_null())
        .then(pl.lit(f"{mc}: no user message before the last assistant message"))
        .when(prompt.is_null())
        .then(pl.lit(f"{mc}: the user message before the last assistant message has no content"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return prompt, completion, system, error
