"""The ``ray`` executor: score shards in parallel with Ray Data, load them with one writer.

Phases, for a dataset the driver streams with the same :class:`~audit.ingest.DatasetReader`
as the local executor (so ordinals, row ids and quarantine are identical by construction):

1. **Stage.** Each batch's canonical rows, the rows in the input's own layout (for the
   survivors file) and its quarantined rows go to Parquet shards in a staging directory.
2. **Score.** A Ray Data pipeline over the shard list (one item per shard) rebuilds the
   engine on the worker from the pack names and detector specs (detector objects may hold
   unpicklable state such as DuckDB connections), swaps in the driver's *fitted* learned
   detectors, scores the shard and writes its verdicts and fates as Parquet.
3. **Load.** The driver, the only ledger writer, reads the shards back in order and records
   them exactly as the local executor does (same statements, one transaction per shard),
   then writes survivors and rejected rows.

Multi-node: the staging directory must be visible to every node (NFS, or a mounted
bucket; set ``SUBAUDIT_RAY_STAGING``), TOML pack paths too, and ``RAY_ADDRESS`` names the
cluster. Ingest and the ledger load stay on the driver; scoring is what scales out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from audit.engine import Engine
from audit.errors import UserError
from audit.ingest import DatasetReader
from audit.ledger import Ledger
from audit.outputs import PartsWriter
from audit.progress import progress_bar
from detectors.base import LearnedDetector

STAGING_ENV = "SUBAUDIT_RAY_STAGING"
_PIP = "pip install 'subaudit[ray]'"


def build_engine(rules: Sequence[str], detectors: Sequence[str]) -> Engine:
    """The scan's engine from its pack names and ``--detector`` specs (as ``scan`` builds it)."""
    from audit import rulepack

    packs = rulepack.load_all(list(rules)) if rules or not detectors else []
    cli_pack = rulepack.from_cli(detectors)
    if cli_pack is not None:
        packs.append(cli_pack)
    return Engine([rule for pack in packs for rule in pack.rules])


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray needs Ray: {_PIP}") from None
    if not ray.is_initialized():
        # RAY_ADDRESS (if set) joins a cluster; otherwise a local instance on this machine.
        ray.init(
            address=os.environ.get("RAY_ADDRESS") or None,
            include_dashboard=False,
            log_to_driver=False,
        )
    return ray


def run_batches_ray(
    run_id: str,
    reader: DatasetReader,
    engine: Engine,
    led: Ledger,
    survivors: PartsWriter | None,
    rejects: PartsWriter | None,
    progress: bool,
    *,
    rules: Sequence[str],
    detectors: Sequence[str],
) -> dict[str, int]:
    """The ``ray`` counterpart of ``audit.scan._run_batches``: same ledger rows, same counts.

    Args:
        run_id: the run being recorded.
        reader: the input, streamed on the driver.
        engine: the driver's engine (learned detectors already fitted).
        led: the ledger; only the driver writes to it.
        survivors: survivors writer, if any.
        rejects: rejected-rows writer, if any.
        progress: show progress bars.
        rules: the scan's pack names or paths (workers rebuild the rules from them).
        detectors: the scan's ``--detector`` specs.

    Returns:
        ``rows_in``, ``kept``, ``dropped``, ``flagged``, ``quarantined``.
    """
    from audit.scan import _quarantine_frame, _source_id

    ray = _ray()
    fitted = {
        rule.name: rule.detector
        for rule in engine.rules
        if isinstance(rule.detector, LearnedDetector)
    }
    names = [rule.name for rule in engine.rules]
    base = os.environ.get(STAGING_ENV) or str(led.path.resolve().parent)
    staging = Path(tempfile.mkdtemp(prefix=f".subaudit-ray-{run_id}-", dir=base))
    try:
        # -- 1. stage ---------------------------------------------------------------
        shards: list[dict[str, Any]] = []
        with progress_bar("staging", total=reader.total_bytes, enabled=progress) as advance:
            for index, batch in enumerate(reader):
                prefix = staging / f"shard-{index:06d}"
                batch.rows.write_parquet(f"{prefix}.rows.parquet")
                # Apart from the rows: the detectors must see the very frame they see locally.
                batch.rows.with_columns(_source_id(batch.rows, reader)).select(
                    "source_id"
                ).write_parquet(f"{prefix}.source_id.parquet")
                reader.restore_layout(batch.rows).write_parquet(f"{prefix}.user.parquet")
                _quarantine_frame(batch.quarantined).write_parquet(f"{prefix}.quarantine.parquet")
                shards.append({"shard": index, "prefix": str(prefix)})
                advance(batch.bytes_read)

        # -- 2. score with Ray Data -------------------------------------------------
        spec = ray.put((list(rules), list(detectors), fitted, names))
        scored = (
            ray.data.from_items(shards, override_num_blocks=max(1, len(shards)))
            .map(_ScoreShard, fn_constructor_args=(spec,), concurrency=_workers(ray))
            .take_all()
        )
        for item in scored:
            for name, seconds in zip(names, item["seconds"], strict=True):
                engine.seconds[name] = engine.seconds.get(name, 0.0) + seconds

        # -- 3. load, one writer ----------------------------------------------------
        counts = dict.fromkeys(("rows_in", "kept", "dropped", "flagged", "quarantined"), 0)
        for shard in shards:
            _load_shard(run_id, Path(shard["prefix"]), led, survivors, rejects, counts)
        return counts
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _workers(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class _ScoreShard:
    """A Ray Data map actor: builds the engine once, then scores one shard per call."""

    def __init__(self, spec_ref: Any) -> None:
        import ray

        rules, detectors, fitted, names = ray.get(spec_ref)
        engine = build_engine(rules, detectors)
        # Learned detectors keep the driver's fitted state: fitting again on a shard
        # would give different thresholds, and different verdicts.
        engine.rules = [
            replace(r, detector=fitted[r.name]) if r.name in fitted else r for r in engine.rules
        ]
        if [r.name for r in engine.rules] != names:
            raise RuntimeError(f"worker built rules {[r.name for r in engine.rules]}, not {names}")
        self.engine = engine
        self.names = names

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        prefix = item["prefix"]
        rows = pl.read_parquet(f"{prefix}.rows.parquet")
        before = dict(self.engine.seconds)
        started = time.perf_counter()
        result = self.engine.evaluate(rows)
        result.verdicts.write_parquet(f"{prefix}.verdicts.parquet")
        result.fates.write_parquet(f"{prefix}.fates.parquet")
        return {
            "shard": item["shard"],
            "rows": rows.height,
            "wall": time.perf_counter() - started,
            "seconds": [self.engine.seconds.get(n, 0.0) - before.get(n, 0.0) for n in self.names],
        }


def _load_shard(
    run_id: str,
    prefix: Path,
    led: Ledger,
    survivors: PartsWriter | None,
    rejects: PartsWriter | None,
    counts: dict[str, int],
) -> None:
    """Record one scored shard exactly as the local batch loop records a batch."""
    from audit.scan import record_batch

    rows = pl.read_parquet(f"{prefix}.rows.parquet")
    verdicts = pl.read_parquet(f"{prefix}.verdicts.parquet")
    fates = pl.read_parquet(f"{prefix}.fates.parquet")
    quarantine = pl.read_parquet(f"{prefix}.quarantine.parquet")
    user_rows = pl.read_parquet(f"{prefix}.user.parquet")
    source_id = pl.read_parquet(f"{prefix}.source_id.parquet")["source_id"]
    record_batch(
        run_id,
        led,
        rows=rows,
        source_id=source_id,
        user_rows=user_rows,
        verdicts=verdicts,
        fates=fates,
        quarantine=quarantine,
        survivors=survivors,
        rejects=rejects,
        counts=counts,
    )
