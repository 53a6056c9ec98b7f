"""The ray executor records exactly what the local executor records (local Ray, 2 CPUs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from audit.ledger import Ledger
from audit.sample import SampleConfig, make_frame
from audit.scan import scan

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

pytestmark = pytest.mark.slow  # starting Ray takes several seconds


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _ledger_view(ledger: Path, run_id: str) -> dict[str, Any]:
    with Ledger(ledger, read_only=True) as led:
        p = {"run_id": run_id}
        return {
            "rows": led.query(
                "SELECT row_id, ordinal, line, source_id, prompt, completion FROM rows"
                " WHERE run_id = $run_id ORDER BY ordinal",
                p,
            ).to_polars(),
            "verdicts": led.query(
                "SELECT ordinal, row_id, detector, score, threshold, verdict, reason, reasons"
                " FROM verdicts WHERE run_id = $run_id ORDER BY ordinal, detector",
                p,
            ).to_polars(),
            "quarantine": led.query(
                "SELECT ordinal, line, raw, error FROM quarantine"
                " WHERE run_id = $run_id ORDER BY ordinal",
                p,
            ).to_polars(),
            "funnel": led.query("funnel", p).to_dicts(),
        }


@pytest.mark.parametrize(
    ("packs", "detectors"),
    [
        (["numbers", "animals"], []),
        (["numbers-misalignment"], ["sql:expr=length(completion) > 60,action=flag"]),
    ],
)
def test_ray_equals_local(
    local_ray: None, tmp_path: Path, packs: list[str], detectors: list[str]
) -> None:
    data = tmp_path / "teacher.jsonl"
    frame = make_frame(SampleConfig(rows=3_000, seed=3, trait_word_rate=0.05))
    text = frame.write_ndjson()
    # A few malformed lines, so quarantine takes part as well.
    lines = text.splitlines()
    lines[10] = "{not json"
    lines[2500] = '{"id": "x", "prompt": 1, "completion": "2"}'
    data.write_text("\n".join(lines) + "\n")

    results = {}
    for executor in ("local", "ray"):
        results[executor] = scan(
            data,
            packs,
            detectors=detectors,
            ledger=tmp_path / f"{executor}.duckdb",
            out=tmp_path / f"{executor}.parquet",
            rejected=tmp_path / f"{executor}-rejected.jsonl",
            batch_rows=700,  # several shards
            id_column="id",
            executor=executor,  # type: ignore[arg-type]
        )
    local, remote = results["local"], results["ray"]
    for key in ("rows_in", "kept", "dropped", "flagged", "quarantined", "funnel", "input_sha256"):
        assert getattr(local, key) == getattr(remote, key), key
    assert local.quarantined == 2
    views = {e: _ledger_view(tmp_path / f"{e}.duckdb", results[e].run_id) for e in results}
    for table in ("rows", "verdicts", "quarantine"):
        assert views["local"][table].equals(views["ray"][table]), table
    assert views["local"]["funnel"] == views["ray"]["funnel"]
    assert pl.read_parquet(tmp_path / "local.parquet").equals(
        pl.read_parquet(tmp_path / "ray.parquet")
    )
    assert (tmp_path / "local-rejected.jsonl").read_text() == (
        tmp_path / "ray-rejected.jsonl"
    ).read_text()


def test_unknown_executor(tmp_path: Path) -> None:
    from audit.errors import UserError

    with pytest.raises(UserError, match="unknown executor"):
        scan(tmp_path / "x.jsonl", ["numbers"], executor="spark")  # type: ignore[arg-type]
