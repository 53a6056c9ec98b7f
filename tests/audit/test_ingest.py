"""Tests for the ingest layer (audit.ingest and its format modules)."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit.ingest_parquet as ingest_parquet
import audit.ingest_records as ingest_records
from audit.errors import InputError
from audit.ingest import (
    Batch,
    DatasetReader,
    InputSpec,
    Quarantined,
    compute_row_ids,
    read_dataset,
)
from audit.ingest_records import prefetched

# ---------------------------------------------------------------------------------------
# helpers


@dataclass
class Result:
    rows: pl.DataFrame
    quarantined: list[Quarantined]
    batches: list[Batch]
    reader: DatasetReader


def read_all(path: Path, **spec: Any) -> Result:
    reader = read_dataset(InputSpec(path, **spec))
    batches = list(reader)
    rows = pl.concat([b.rows for b in batches], how="diagonal_relaxed") if batches else None
    return Result(
        rows=rows if rows is not None else pl.DataFrame(),
        quarantined=[q for b in batches for q in b.quarantined],
        batches=batches,
        reader=reader,
    )


def write_jsonl(path: Path, lines: list[bytes | str | dict[str, Any]]) -> Path:
    out = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        out.append(line.encode() if isinstance(line, str) else line)
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def row(prompt: Any = "p", completion: Any = "c", **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "completion": completion, **extra}


def chat(*messages: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in messages], **extra}


def reference_row_id(prompt: str, completion: str, id_text: str | None = None) -> str:
    """The documented row-id recipe, written out independently of the implementation."""
    parts = [prompt, completion] if id_text is None else [prompt, completion, id_text]
    message = b"".join(b"%d:%b" % (len(p.encode()), p.encode()) for p in parts)
    return hashlib.sha256(message).hexdigest()[:32]


@pytest.fixture(params=[True, False], ids=["prefetch", "inline"])
def prefetch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(ingest_records, "PREFETCH", request.param)
    return bool(request.param)


# ---------------------------------------------------------------------------------------
# row ids


def test_row_id_golden_value_never_changes() -> None:
    # Changing this value invalidates every ledger: bump ROW_ID_SCHEME instead.
    ids = compute_row_ids(pl.Series(["What is 2+2?"]), pl.Series(["4"]), None)
    assert ids.to_list() == ["509df39bcda1fe56bb58bf951494d1f3"]
    assert ids.to_list() == [reference_row_id("What is 2+2?", "4")]


@pytest.mark.parametrize(
    ("prompts", "completions", "ids"),
    [
        (["a", "ü€😀", ""], ["b", "", "x" * 1000], None),
        (["a", "a"], ["b", "b"], [1, 2]),
        (["a", "a"], ["b", "b"], ["1", "x"]),
    ],
)
def test_row_ids_match_reference_and_duckdb(
    prompts: list[str], completions: list[str], ids: list[Any] | None
) -> None:
    id_series = None if ids is None else pl.Series("id", ids)
    got = compute_row_ids(pl.Series(prompts), pl.Series(completions), id_series).to_list()
    id_texts = [None] * len(prompts) if ids is None else [str(i) for i in ids]
    assert got == [
        reference_row_id(*args) for args in zip(prompts, completions, id_texts, strict=True)
    ]
    frame = pl.DataFrame({"p": prompts, "c": completions})  # noqa: F841 - read by duckdb
    sql = "select left(sha256(concat(strlen(p), ':', p, strlen(c), ':', c)), 32) from frame"
    if ids is None:
        assert [r[0] for r in duckdb.sql(sql).fetchall()] == got


def test_row_ids_separate_fields_and_treat_id_types_alike() -> None:
    one = compute_row_ids(pl.Series(["ab"]), pl.Series(["c"]), None)
    other = compute_row_ids(pl.Series(["a"]), pl.Series(["bc"]), None)
    assert one[0] != other[0]
    as_int = compute_row_ids(pl.Series(["a"]), pl.Series(["b"]), pl.Series([7]))
    as_str = compute_row_ids(pl.Series(["a"]), pl.Series(["b"]), pl.Series(["7"]))
    as_float = compute_row_ids(pl.Series(["a"]), pl.Series(["b"]), pl.Series([7.0]))
    fraction = compute_row_ids(pl.Series(["a", "a"]), pl.Series(["b", "b"]), pl.Series([7.5, 7.0]))
    assert as_float[0] == as_str[0] == fraction[1] != fraction[0]
    no_id = compute_row_ids(pl.Series(["a"]), pl.Series(["b"]), None)
    null_id = compute_row_ids(pl.Series(["a"]), pl.Series(["b"]), pl.Series([None], dtype=pl.Int64))
    assert as_int[0] == as_str[0]
    assert len({as_int[0], no_id[0], null_id[0]}) == 3
    assert len(as_int[0]) == 32


# ---------------------------------------------------------------------------------------
# JSONL: one line, one outcome

JSONL_LINE_CASES: list[tuple[str, bytes | dict[str, Any], str | None]] = [
    ("plain", row(), None),
    ("extra columns", row(meta={"k": [1, 2]}, score=0.5), None),
    ("empty strings are valid", row("", ""), None),
    ("completion int", row(completion=5), "completion: expected a string, got int"),
    ("completion list", row(completion=[1]), "completion: expected a string, got array"),
    ("prompt object", row(prompt={"a": 1}), "prompt: expected a string, got object"),
    ("completion bool", row(completion=True), "completion: expected a string, got boolean"),
    ("completion null", row(completion=None), "completion: null"),
    ("completion missing", {"prompt": "p"}, "completion: missing"),
    ("prompt missing", {"completion": "c"}, "prompt: missing"),
    ("nothing", {"x": 1}, "prompt: missing"),
    (
        "bad json",
        b'{"prompt": "a" "completion": "b"}',
        "invalid JSON: Expecting ',' delimiter at column 16",
    ),
    (
        "truncated json",
        b'{"prompt": "a", "compl',
        "invalid JSON: Unterminated string starting at column 17",
    ),
    (
        "trailing data",
        b'{"prompt": "a", "completion": "b"} x',
        "invalid JSON: Extra data at column 36",
    ),
    ("nan and infinity", b'{"prompt": "a", "completion": "b", "x": NaN, "y": -Infinity}', None),
    ("bad utf-8", b'{"prompt": "a\xff", "completion": "b"}', "invalid UTF-8 at byte 14"),
    (
        "lone surrogate",
        b'{"prompt": "\\ud83d", "completion": "b"}',
        "invalid JSON: a \\u escape is an unpaired surrogate",
    ),
    ("array", b"[1, 2]", "expected a JSON object, got array"),
    ("string", b'"x"', "expected a JSON object, got string"),
    ("number", b"3", "expected a JSON object, got int"),
    ("chat", chat(("user", "u"), ("assistant", "a")), None),
    ("chat no assistant", chat(("user", "u")), "messages: no assistant message"),
    (
        "chat no user",
        chat(("assistant", "a")),
        "messages: no user message before the last assistant message",
    ),
    (
        "chat user after",
        chat(("assistant", "a"), ("user", "u")),
        "messages: no user message before the last assistant message",
    ),
    (
        "chat null content",
        chat(("user", "u"), ("assistant", None)),
        "messages: the last assistant message has no content",
    ),
    (
        "chat list content",
        chat(("user", "u"), ("assistant", [1])),
        "messages: content of the last assistant message is array, expected a string",
    ),
    (
        "chat not a list",
        {"messages": {"role": "user"}},
        "messages: expected a list of messages, got object",
    ),
    (
        "chat with null prompt keys",
        {"prompt": None, "completion": None, **chat(("user", "u"), ("assistant", "a"))},
        None,
    ),
]


@pytest.mark.parametrize(
    ("line", "error"),
    [(c[1], c[2]) for c in JSONL_LINE_CASES],
    ids=[c[0] for c in JSONL_LINE_CASES],
)
@pytest.mark.parametrize("alone", [True, False], ids=["alone", "among-good"])
def test_jsonl_line_outcome(
    tmp_path: Path, line: bytes | dict[str, Any], error: str | None, alone: bool
) -> None:
    # Alone, the line decides the fast path on its own; among good rows, a bad line must
    # be singled out (slow path) without losing its neighbours.
    lines = [line] if alone else [row("before"), line, row("after")]
    result = read_all(write_jsonl(tmp_path / "d.jsonl", lines))
    target = 0 if alone else 1
    if error is None:
        assert result.quarantined == []
        assert target in result.rows["ordinal"].to_list()
    else:
        assert [(q.ordinal, q.line, q.error) for q in result.quarantined] == [
            (target, target + 1, error)
        ]
    assert result.rows.height + len(result.quarantined) == len(lines)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (row(id=1), None),
        (row(id="a-1"), None),
        (row(id=1.5), None),
        (row(), "id: missing"),
        (row(id=None), "id: null"),
        (row(id=[1]), "id: expected a string or number, got array"),
        (row(id=True), "id: expected a string or number, got boolean"),
    ],
)
def test_jsonl_id_column(tmp_path: Path, line: dict[str, Any], error: str | None) -> None:
    lines = [row(id=0), line, row(id=2)]
    result = read_all(write_jsonl(tmp_path / "d.jsonl", lines), id_column="id")
    assert [q.error for q in result.quarantined] == ([] if error is None else [error])
    if error is None:
        got = result.rows.filter(pl.col("ordinal") == 1)["row_id"][0]
        assert got == reference_row_id("p", "c", str(line["id"]))


def test_polars_style_coercion_does_not_happen(tmp_path: Path) -> None:
    # pl.read_ndjson would read 5 as "5": the fast path must not accept it.
    lines = [row(str(i)) for i in range(50)] + [row(completion=5)]
    result = read_all(write_jsonl(tmp_path / "d.jsonl", lines))
    assert [q.error for q in result.quarantined] == ["completion: expected a string, got int"]
    assert result.rows.height == 50


def test_jsonl_layout_blank_lines_crlf_bom_and_last_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"prompt": "a", "completion": "b"}\r\n'
        b"\r\n"
        b"   \t \n"
        b'{"prompt": "c", "completion": "d"}\r\n'
        b"\n"
        b'{"prompt": "e", "completion": "f"}'  # no final newline
    )
    result = read_all(path)
    assert result.rows.select("ordinal", "line", "prompt").rows() == [
        (0, 1, "a"),
        (1, 4, "c"),
        (2, 6, "e"),
    ]
    assert result.reader.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.batches[-1].bytes_read == result.reader.total_bytes == path.stat().st_size


def test_canonical_frame_columns_and_renames(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"q": "a", "a": "b", "id": 7, "line": "x", "prompt": "orig", "meta": {"k": 1}}],
    )
    result = read_all(path, prompt_column="q", completion_column="a", id_column="id")
    frame = result.rows
    assert frame.columns == [
        "row_id", "ordinal", "line", "prompt", "completion",
        "id", "input_line", "input_prompt", "meta",
    ]  # fmt: skip
    assert frame.schema["ordinal"] == pl.Int64 and frame.schema["line"] == pl.Int64
    assert frame.row(0, named=True)["input_prompt"] == "orig"
    assert frame["row_id"][0] == reference_row_id("a", "b", "7")
    assert result.reader.column_map == {
        "prompt": "q",
        "completion": "a",
        "input_line": "line",
        "input_prompt": "prompt",
    }
    assert result.reader.derived_columns == ()


@pytest.mark.parametrize(
    ("lines", "spec", "columns"),
    [
        (
            [{"id": 1, "q": "a", "a": "b", "line": 3}],
            {"prompt_column": "q", "completion_column": "a"},
            ["id", "q", "a", "line", "row_id"],
        ),
        (
            [{"row_id": "x", "prompt": "a", "completion": "b"}],
            {},
            ["row_id", "prompt", "completion", "subaudit_row_id"],
        ),
        (
            [{"meta": 1, **chat(("system", "s"), ("user", "u"), ("assistant", "a"))}],
            {},
            ["meta", "messages", "row_id"],
        ),
    ],
)
def test_restore_layout(
    tmp_path: Path,
    lines: list[bytes | str | dict[str, Any]],
    spec: dict[str, Any],
    columns: list[str],
) -> None:
    reader = read_dataset(InputSpec(write_jsonl(tmp_path / "d.jsonl", lines), **spec))
    (batch,) = list(reader)
    restored = reader.restore_layout(batch.rows)
    assert restored.columns == columns
    assert restored.drop(columns[-1]).row(0) == tuple(
        v for k, v in next(line for line in lines if isinstance(line, dict)).items()
    )


def test_chat_rows_map_to_prompt_completion_system(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
        {"role": "tool", "content": "t"},
    ]
    path = write_jsonl(tmp_path / "d.jsonl", [{"messages": messages, "system": "mine"}])
    result = read_all(path)
    got = result.rows.row(0, named=True)
    assert (got["prompt"], got["completion"], got["system"]) == ("u2", "a2", "be nice")
    assert got["messages"] == messages and got["input_system"] == "mine"
    assert result.reader.derived_columns == ("prompt", "completion", "system")


def test_fast_and_slow_paths_give_the_same_rows(tmp_path: Path) -> None:
    good: list[bytes | str | dict[str, Any]] = [
        row(f"p{i}", f"c{i}", id=i, meta={"k": i, "tags": ["a"]}, when="2020-01-01")
        for i in range(20)
    ]
    clean = read_all(write_jsonl(tmp_path / "clean.jsonl", good), id_column="id").rows
    dirty_lines = [*good[:10], b"not json", *good[10:]]
    dirty = read_all(write_jsonl(tmp_path / "dirty.jsonl", dirty_lines), id_column="id").rows
    assert dirty.schema == clean.schema
    assert dirty.drop("ordinal", "line").equals(clean.drop("ordinal", "line"))
    assert clean.schema["when"] == pl.String  # no timestamp inference on carried strings


def test_mixed_types_across_pieces_of_a_rejected_chunk(tmp_path: Path) -> None:
    # Big enough for the slow path to bisect: halves of different types meet again.
    lines: list[bytes | str | dict[str, Any]] = [
        *[row(x=i, y=i) for i in range(100)],
        b"bad",
        *[row(x=f"s{i}", y=i + 0.5) for i in range(100)],
    ]
    result = read_all(write_jsonl(tmp_path / "d.jsonl", lines))
    assert [q.line for q in result.quarantined] == [101]
    assert result.rows["x"].to_list() == [str(i) for i in range(100)] + [
        f"s{i}" for i in range(100)
    ]
    assert result.rows.schema["y"] == pl.Float64


def test_mixed_types_in_a_carried_column_become_strings(tmp_path: Path) -> None:
    lines = [row(x=1), row(x="two"), row(x=[3]), row(x=None), row(y=1.5), row(y=2)]
    frame = read_all(write_jsonl(tmp_path / "d.jsonl", lines)).rows
    assert frame["x"].to_list() == ["1", "two", "[3]", None, None, None]
    assert frame.schema["y"] == pl.Float64


@pytest.mark.parametrize("size", [10 << 20])
def test_very_long_lines(tmp_path: Path, size: int) -> None:
    long_ok = row(completion="x" * size)
    long_bad = b'{"prompt": "' + b"y" * size + b'", "completion": 5}'
    result = read_all(write_jsonl(tmp_path / "d.jsonl", [row(), long_ok, long_bad, row()]))
    assert result.rows["completion"].str.len_bytes().to_list() == [1, size, 1]
    (bad,) = result.quarantined
    assert (bad.line, bad.error) == (3, "completion: expected a string, got int")
    assert bad.raw.endswith(f"...[truncated, {len(long_bad)} bytes]")
    assert len(bad.raw) < 4200


# ---------------------------------------------------------------------------------------
# file-level errors


@pytest.mark.parametrize(
    ("name", "content", "spec", "message"),
    [
        ("d.jsonl", b"", {}, "d.jsonl: empty file (no rows)"),
        ("d.jsonl", b" \n\n\t\r\n", {}, "d.jsonl: empty file (no rows)"),
        ("d.csv", b"\n\n", {}, "d.csv: empty file (no rows)"),
        ("d.txt", b"{}", {}, "d.txt: cannot tell the format from the suffix '.txt'"),
        ("d.json", b'[\n  {"prompt": "a"}\n]\n', {}, "d.json:1: looks like one JSON document"),
        (
            "d.csv",
            b"prompt,x\na,b\n",
            {},
            "d.csv: missing column 'completion' (columns: prompt, x)",
        ),
        ("d.csv", b"prompt,completion\na,b\n", {"id_column": "id"}, "missing column 'id'"),
        ("d.csv", b"prompt,completion,prompt\na,b,c\n", {}, "d.csv:1: duplicate column 'prompt'"),
        ("d.csv", b"prompt,completion\n", {}, "d.csv: no rows (only a header)"),
        (
            "d.csv",
            b"prompt,completion\na,b\nc,d,e\n",
            {},
            "d.csv:3: expected 2 fields as in the header, got 3",
        ),
        (
            "d.csv",
            b"prompt,completion\na,b\nc\n",
            {},
            "d.csv:3: expected 2 fields as in the header, got 1",
        ),
        (
            "d.csv",
            b'prompt,completion\na,b\n"c,d\n',
            {},
            "d.csv:3: the file ends inside a quoted field",
        ),
        ("d.parquet", b"PAR1 not really", {}, "d.parquet: not a readable Parquet file"),
        ("d.jsonl", b"{}", {"format": "xml"}, "d.jsonl: unknown format 'xml'"),
    ],
)
def test_file_level_errors(
    tmp_path: Path, name: str, content: bytes, spec: dict[str, Any], message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        list(read_dataset(InputSpec(path, **spec)))
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(tmp_path)) and message in text


def test_missing_directory_and_unreadable_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match=r"nope\.jsonl: no such file$"):
        read_dataset(InputSpec(tmp_path / "nope.jsonl"))
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_dataset(InputSpec(tmp_path / "dir.jsonl"))
    locked = write_jsonl(tmp_path / "locked.jsonl", [row()])
    real_open = Path.open

    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    # Tests may run as root, for whom chmod 000 does not deny reading.
    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(InputError, match=r"locked\.jsonl: permission denied$"):
        read_dataset(InputSpec(locked))


def test_file_level_checks_happen_before_iteration(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"prompt,x\n")
    with pytest.raises(InputError):
        read_dataset(InputSpec(path))  # not only when iterating


def test_sha256_needs_a_full_iteration(tmp_path: Path) -> None:
    reader = read_dataset(InputSpec(write_jsonl(tmp_path / "d.jsonl", [row()])))
    with pytest.raises(RuntimeError, match="after iterating"):
        reader.sha256()


# ---------------------------------------------------------------------------------------
# CSV


def test_csv_rows_lines_nulls_and_quoting(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(
        b"\xef\xbb\xbfprompt,completion,note\r\n"  # line 1
        b"a,b,x\r\n"  # 2
        b"\r\n"  # 3 blank
        b'"multi\nline, with comma",c,y\n'  # 4-5
        b'"",d,"say ""hi"""\n'  # 6: quoted empty prompt is an empty string
        b"e,,z\n"  # 7: empty completion is null
        b"\xff,f,w\n"  # 8: bad UTF-8
        b"g,h,"  # 9: no final newline, empty carried field
    )
    result = read_all(path)
    assert result.rows.select("ordinal", "line", "prompt", "completion", "note").rows() == [
        (0, 2, "a", "b", "x"),
        (1, 4, "multi\nline, with comma", "c", "y"),
        (2, 6, "", "d", 'say "hi"'),
        (5, 9, "g", "h", None),
    ]
    assert [(q.ordinal, q.line, q.error) for q in result.quarantined] == [
        (3, 7, "completion: null (empty field)"),
        (4, 8, "invalid UTF-8 at byte 1"),
    ]
    assert result.quarantined[0].raw == "e,,z"
    assert result.reader.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------
# Parquet


def test_parquet_rows_nulls_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    n = 5000
    frame = pl.DataFrame(
        {
            "q": [None if i % 7 == 3 else f"p{i}" for i in range(n)],
            "a": [None if i % 11 == 5 else f"c{i}" for i in range(n)],
            "id": list(range(n)),
            "line": ["carried"] * n,
        }
    )
    frame.write_parquet(path, row_group_size=700)
    result = read_all(
        path, prompt_column="q", completion_column="a", id_column="id", batch_rows=1000
    )
    bad = {i for i in range(n) if i % 7 == 3 or i % 11 == 5}
    assert sorted(result.rows["ordinal"].to_list()) == sorted(set(range(n)) - bad)
    assert {q.ordinal for q in result.quarantined} == bad
    first = result.quarantined[0]
    assert (first.line, first.error) == (None, "q: null")
    assert json.loads(first.raw) == {"q": None, "a": "c3", "id": 3, "line": "carried"}
    assert result.rows["line"].null_count() == result.rows.height
    assert result.rows["input_line"].unique().to_list() == ["carried"]
    assert result.reader.progress_unit == "rows" and result.reader.total_bytes == n
    assert result.batches[-1].bytes_read == n
    assert result.reader.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("small_gap", [0, 1 << 20])
def test_parquet_hash_whatever_the_read_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_gap: int
) -> None:
    monkeypatch.setattr(ingest_parquet, "_SMALL_GAP", small_gap)
    path = tmp_path / "d.parquet"
    rng = random.Random(1)
    text = ["".join(rng.choices("abcdef ", k=rng.randint(1, 300))) for _ in range(20_000)]
    pl.DataFrame({"prompt": text, "completion": text[::-1]}).write_parquet(
        path, row_group_size=3000, compression="uncompressed"
    )
    result = read_all(path, batch_rows=2500)
    assert result.rows.height == 20_000
    assert result.reader.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_chat_file(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    messages = [
        [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "u"}],
        None,
    ]
    pl.DataFrame({"messages": messages, "k": [1, 2, 3]}).write_parquet(path)
    result = read_all(path)
    assert result.rows.select("prompt", "completion", "k").rows() == [("u", "a", 1)]
    assert [(q.ordinal, q.error) for q in result.quarantined] == [
        (1, "messages: no assistant message"),
        (2, "messages: null"),
    ]


@pytest.mark.parametrize(
    ("table", "spec", "message"),
    [
        (
            pa.table({"prompt": ["a"], "completion": [1]}),
            {},
            "column 'completion' has type Int64, expected a string column",
        ),
        (
            pa.table({"prompt": ["a"], "x": ["b"]}),
            {},
            "missing column 'completion' (columns: prompt, x)",
        ),
        (
            pa.table({"prompt": ["a"], "completion": ["b"]}),
            {"id_column": "id"},
            "missing column 'id'",
        ),
        (
            pa.table({"prompt": ["a"], "completion": ["b"], "id": [[1]]}),
            {"id_column": "id"},
            "column 'id' has type List(Int64)",
        ),
        (
            pa.table({"messages": [[{"role": "user", "content": 1}]]}),
            {},
            "column 'messages' has type",
        ),
        (
            pa.table(
                {"prompt": pa.array([], pa.string()), "completion": pa.array([], pa.string())}
            ),
            {},
            "empty file (no rows)",
        ),
    ],
)
def test_parquet_schema_errors(
    tmp_path: Path, table: pa.Table, spec: dict[str, Any], message: str
) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    with pytest.raises(InputError) as info:
        read_dataset(InputSpec(path, **spec))
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_parquet_invalid_utf8_is_quarantined(tmp_path: Path) -> None:
    # Parquet readers do not check UTF-8; polars must never see the bad bytes.
    path = tmp_path / "d.parquet"
    prompts = pa.array([b"ok", b"a\xff", b"fine"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"prompt": prompts, "completion": ["x", "y", "z"]}), path)
    result = read_all(path)
    assert result.rows.select("ordinal", "prompt").rows() == [(0, "ok"), (2, "fine")]
    (bad,) = result.quarantined
    assert (bad.ordinal, bad.error) == (1, "prompt: invalid UTF-8 at byte 2")
    assert json.loads(bad.raw) == {"prompt": "a\ufffd", "completion": "y"}


def test_parquet_dictionary_and_large_strings(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    table = pa.table(
        {
            "prompt": pa.array(["a", "b"]).dictionary_encode(),
            "completion": pa.array(["c", "d"], pa.large_string()),
        }
    )
    pq.write_table(table, path)
    assert read_all(path).rows.select("prompt", "completion").rows() == [("a", "c"), ("b", "d")]


# ---------------------------------------------------------------------------------------
# conservation under random malformed input


@dataclass
class Expected:
    line: int
    good: tuple[str, str] | None  # prompt, completion
    error: str | None  # a prefix of the quarantine error


def _random_jsonl(rng: random.Random) -> tuple[bytes, list[Expected]]:
    out: list[bytes] = []
    expected: list[Expected] = []
    line = 1
    for i in range(rng.randint(50, 250)):
        kind = rng.choice(
            ["good"] * 8
            + ["blank", "crlf", "long", "chat", "badjson", "utf8", "null", "int", "list",
               "missing", "array", "chat_bad", "nan"]
        )  # fmt: skip
        prompt = "".join(rng.choices('ab cdé€😀\\"\t', k=rng.randint(0, 30)))
        completion = f"c{i}"
        data: bytes
        exp: Expected | None = Expected(line, (prompt, completion), None)
        if kind in ("good", "crlf"):
            data = json.dumps(row(prompt, completion, id=i, m=rng.random())).encode()
            if kind == "crlf":
                data += b"\r"
        elif kind == "long":
            completion = "9" * rng.randint(5000, 100_000)
            data = json.dumps(row(prompt, completion)).encode()
            exp = Expected(line, (prompt, completion), None)
        elif kind == "chat":
            data = json.dumps(
                chat(("system", "s"), ("user", prompt), ("assistant", completion))
            ).encode()
        elif kind == "blank":
            data, exp = rng.choice([b"", b"  ", b"\t\r"]), None
        elif kind == "badjson":
            data, exp = b'{"prompt": "x", ', Expected(line, None, "invalid JSON")
        elif kind == "utf8":
            data = b'{"prompt": "\xc3\x28", "completion": "c"}'
            exp = Expected(line, None, "invalid UTF-8 at byte 13")
        elif kind == "null":
            data, exp = (
                json.dumps(row(completion=None)).encode(),
                Expected(line, None, "completion: null"),
            )
        elif kind == "int":
            data = json.dumps(row(prompt=3)).encode()
            exp = Expected(line, None, "prompt: expected a string, got int")
        elif kind == "list":
            data = json.dumps(row(completion=["a"])).encode()
            exp = Expected(line, None, "completion: expected a string, got array")
        elif kind == "missing":
            data, exp = b'{"prompt": "x"}', Expected(line, None, "completion: missing")
        elif kind == "array":
            data, exp = b"[1, 2]", Expected(line, None, "expected a JSON object, got array")
        elif kind == "chat_bad":
            data = json.dumps(chat(("user", "u"))).encode()
            exp = Expected(line, None, "messages: no assistant message")
        else:  # nan
            data = b'{"prompt": "a", "completion": NaN}'
            exp = Expected(line, None, "completion: expected a string, got float")
        out.append(data)
        if exp is not None:
            expected.append(exp)
        line += 1
    body = b"\n".join(out)
    if rng.random() < 0.5:
        body += b"\n"
    if rng.random() < 0.3:
        body = b"\xef\xbb\xbf" + body
    return body, expected


def _random_csv(rng: random.Random) -> tuple[bytes, list[Expected]]:
    out = [b"prompt,completion,n"]
    expected: list[Expected] = []
    line = 2
    for i in range(rng.randint(50, 250)):
        kind = rng.choice(["good"] * 6 + ["multiline", "blank", "null", "quoted_empty", "utf8"])
        completion = f"c{i}"
        prompt = "".join(rng.choices("ab cd,é", k=rng.randint(1, 20)))
        span = 1
        if kind == "good":
            quoted = '"' + prompt.replace('"', '""') + '"'
            record = f"{quoted},{completion},{i}".encode()
            exp: Expected | None = Expected(line, (prompt, completion), None)
        elif kind == "multiline":
            prompt = f'x\n"y"\r\nz{i}'
            record = f'"{prompt.replace(chr(34), chr(34) * 2)}",{completion},{i}'.encode()
            span = 3
            exp = Expected(line, (prompt, completion), None)
        elif kind == "blank":
            record, exp = b"", None
        elif kind == "null":
            record, exp = f"{i},,{i}".encode(), Expected(line, None, "completion: null")
        elif kind == "quoted_empty":
            record, exp = f'"",{completion},{i}'.encode(), Expected(line, ("", completion), None)
        else:
            record, exp = b"\xe2\x82,c,1", Expected(line, None, "invalid UTF-8 at byte 1")
        out.append(record)
        if exp is not None:
            expected.append(exp)
        line += span
    return b"\n".join(out) + rng.choice([b"", b"\n"]), expected


def _random_parquet(rng: random.Random, path: Path) -> list[Expected]:
    prompts: list[str | None] = []
    completions: list[str | None] = []
    expected: list[Expected] = []
    for i in range(rng.randint(50, 1500)):
        p = rng.choice([f"p{i}", "", None] + [f"q{i}"] * 5)
        c = rng.choice([f"c{i}", None] + [f"d{i}"] * 5)
        prompts.append(p)
        completions.append(c)
        err = "prompt: null" if p is None else "completion: null" if c is None else None
        expected.append(Expected(0, None if err else (str(p), str(c)), err))
    pl.DataFrame({"prompt": prompts, "completion": completions}).write_parquet(
        path, row_group_size=rng.randint(10, 500)
    )
    return expected


def _check_conservation(result: Result, expected: list[Expected], *, lines: bool) -> None:
    n = len(expected)
    ordinals = result.rows["ordinal"].to_list() + [q.ordinal for q in result.quarantined]
    assert sorted(ordinals) == list(range(n))  # every row once: no gaps, no duplicates
    for q in result.quarantined:
        exp = expected[q.ordinal]
        assert exp.error is not None and q.error.startswith(exp.error), (q, exp)
        assert q.line == (exp.line if lines else None)
        assert "\n" not in q.error
    for got in result.rows.select("ordinal", "line", "prompt", "completion").iter_rows():
        exp = expected[got[0]]
        assert exp.good == (got[2], got[3]), (got[:2], exp)
        assert got[1] == (exp.line if lines else None)
    assert result.rows["row_id"].null_count() == 0
    progress = [b.bytes_read for b in result.batches]
    assert progress == sorted(progress) and progress[-1] == result.reader.total_bytes


@pytest.mark.parametrize("seed", range(8))
def test_conservation_random_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefetch: bool, seed: int
) -> None:
    rng = random.Random(seed)
    # Small blocks and batches put record and chunk boundaries everywhere.
    monkeypatch.setattr(ingest_records, "BLOCK_SIZE", rng.choice([97, 4096, 1 << 16]))
    monkeypatch.setattr(ingest_records, "MAX_CHUNK_BYTES", rng.choice([3000, 1 << 26]))
    batch_rows = rng.choice([13, 60, 100_000])

    body, expected = _random_jsonl(rng)
    path = tmp_path / "d.jsonl"
    path.write_bytes(body)
    result = read_all(path, batch_rows=batch_rows)
    _check_conservation(result, expected, lines=True)
    assert result.reader.sha256() == hashlib.sha256(body).hexdigest()

    body, expected = _random_csv(rng)
    path = tmp_path / "d.csv"
    path.write_bytes(body)
    _check_conservation(read_all(path, batch_rows=batch_rows), expected, lines=True)

    path = tmp_path / "d.parquet"
    expected = _random_parquet(rng, path)
    _check_conservation(read_all(path, batch_rows=batch_rows), expected, lines=False)


# ---------------------------------------------------------------------------------------
# prefetching


def test_prefetched_passes_items_and_errors_in_order(prefetch: bool) -> None:
    def items() -> Any:
        yield 1
        yield 2
        raise InputError("boom", path="f")

    seen: list[int] = []
    with pytest.raises(InputError, match="f: boom"):
        for item in prefetched(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_prefetched_stops_the_producer_when_closed() -> None:
    closed: list[bool] = []

    def items() -> Any:
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    gen = prefetched(items())
    assert next(gen) == 0
    gen.close()
    assert closed == [True]


def test_stopping_early_stops_the_prefetch_thread(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row(str(i)) for i in range(50)])
    reader = read_dataset(InputSpec(path, batch_rows=5))
    batches = iter(reader)
    next(batches)
    batches.close()  # what a consumer's `break` does once the loop lets go of it
    assert not [t for t in threading.enumerate() if t.name == "subaudit-ingest-prefetch"]
    with pytest.raises(RuntimeError):
        reader.sha256()


def test_column_map_known_before_iteration_for_csv_and_parquet(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(b"q,a,line\nx,y,1\n")
    reader = read_dataset(InputSpec(csv_path, prompt_column="q", completion_column="a"))
    assert reader.column_map == {"prompt": "q", "completion": "a", "input_line": "line"}
    assert reader.input_columns == ["q", "a", "line"]
    (batch,) = list(reader)
    assert reader.restore_layout(batch.rows).columns == ["q", "a", "line", "row_id"]
    pq_path = tmp_path / "d.parquet"
    pl.DataFrame({"q": ["x"], "a": ["y"], "ordinal": [1]}).write_parquet(pq_path)
    reader = read_dataset(InputSpec(pq_path, prompt_column="q", completion_column="a"))
    assert reader.column_map == {"prompt": "q", "completion": "a", "input_ordinal": "ordinal"}
    (batch,) = list(reader)
    assert batch.rows.columns[-1] == "input_ordinal"


def test_csv_chunk_of_only_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"prompt,completion\n\xff,b\na,b\n")
    result = read_all(path, batch_rows=1)
    assert [q.error for q in result.quarantined] == ["invalid UTF-8 at byte 1"]
    assert result.rows.select("ordinal", "line", "prompt").rows() == [(1, 3, "a")]


def test_derived_columns_follow_the_latest_batch(tmp_path: Path) -> None:
    lines: list[bytes | str | dict[str, Any]] = [
        chat(("user", "u"), ("assistant", "a")),
        row(),
        chat(("user", "u"), ("assistant", "a")),
    ]
    reader = read_dataset(InputSpec(write_jsonl(tmp_path / "d.jsonl", lines), batch_rows=2))
    seen = [(batch.rows.columns, reader.derived_columns) for batch in reader]
    assert seen[0][1] == ("system",) and "system" in seen[0][0]
    assert seen[1][1] == ("prompt", "completion", "system")


def test_batches_respect_batch_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row(str(i)) for i in range(25)])
    batches = read_dataset(InputSpec(path, batch_rows=10))
    assert [b.rows.height for b in batches] == [10, 10, 5]
