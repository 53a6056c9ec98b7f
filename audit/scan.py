"""``subaudit scan``: ingest a teacher dataset, run every rule, record every row's fate.

Flow: load and validate the rule packs and open the input (both fail before the ledger
is touched), open the ledger and start a run, then per batch: score with every rule,
record rows + verdicts + quarantine in the ledger, write survivors (and rejected rows).
Survivors are published atomically only when the whole run succeeded; on any failure the
run is marked failed with the error and no survivors file appears.

Conservation is checked at the end of every run: rows read = kept + dropped + quarantined,
and the ledger holds exactly that many rows and quarantine records for the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

import polars as pl

import audit
from audit import rulepack
from audit.engine import Engine
from audit.errors import InputError, UserError
from audit.ingest import DatasetReader, Format, InputSpec, Quarantined, read_dataset
from audit.interrupts import critical
from audit.ledger import Ledger
from audit.outputs import PartsWriter
from audit.progress import progress_bar
from detectors.base import LearnedDetector

_QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "ordinal": pl.Int64(),
    "line": pl.Int64(),
    "raw": pl.String(),
    "error": pl.String(),
}


@dataclass(frozen=True)
class FunnelRow:
    """One detector's line of the funnel."""

    detector: str
    action: str
    dropped: int
    unique_drops: int
    flagged: int
    unknown: int


@dataclass(frozen=True)
class ScanResult:
    """What one scan did; ``to_json()`` is the ``scan --json`` contract."""

    run_id: str
    rows_in: int
    kept: int
    dropped: int
    flagged: int
    quarantined: int
    funnel: list[FunnelRow]
    ledger: str
    out: str | None
    rejected: str | None
    input_sha256: str
    seconds: float
    status: str = "succeeded"
    abandoned_runs_failed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable summary (stable keys: run_id, rows_in, kept, dropped, ...)."""
        return asdict(self)


def new_run_id() -> str:
    """Sortable and unique: ``YYYYMMDD-HHMMSS-xxxxxx``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def scan(
    input: str | Path,
    rules: Sequence[str] = ("numbers",),
    *,
    ledger: str | Path = "audit.duckdb",
    out: str | Path | None = None,
    rejected: str | Path | None = None,
    prompt_column: str = "prompt",
    completion_column: str = "completion",
    id_column: str | None = None,
    input_format: str | None = None,
    batch_rows: int = 100_000,
    progress: bool = False,
    detectors: Sequence[str] = (),
    reference: str | Path | None = None,
    executor: Literal["local", "ray"] = "local",
) -> ScanResult:
    """Scan a dataset with rule packs and record every row's fate in the ledger.

    Args:
        input: JSONL, Parquet or CSV file of teacher outputs.
        rules: bundled pack names or TOML paths; every rule of every pack scores every row.
        ledger: DuckDB ledger file (created if missing).
        out: survivors file (``.jsonl`` or ``.parquet``): the input columns plus ``row_id``.
        rejected: optional file of dropped and quarantined rows with their reasons.
        prompt_column: name of the prompt column in the input.
        completion_column: name of the completion column in the input.
        id_column: optional id column, carried through and part of ``row_id``.
        input_format: ``jsonl`` | ``parquet`` | ``csv``; by default from the suffix.
        batch_rows: rows per batch (memory is bounded by this, not by the file size).
        progress: show a progress bar on stderr.
        detectors: ``NAME[:key=value,...]`` detectors beyond the packs (rule ``cli/NAME``).
        reference: the untraited model's outputs on the same prompts (same columns), for
            detectors that compare the dataset with a reference.
        executor: ``local`` (this process) or ``ray`` (score shards with Ray Data, see
            :mod:`audit.executors.ray_executor`); the ledger and outputs are the same.

    Returns:
        The run's summary.

    Raises:
        UserError: bad input, rule pack, ledger or output path (one line, exit code 2).
    """
    started = time.perf_counter()
    if executor not in ("local", "ray"):
        raise UserError(f"unknown executor {executor!r} (use local or ray)", field="--executor")
    packs = rulepack.load_all(list(rules)) if rules or not detectors else []
    cli_pack = rulepack.from_cli(detectors)
    if cli_pack is not None:
        packs.append(cli_pack)
    all_rules = [rule for pack in packs for rule in pack.rules]
    _check_requirements(all_rules, reference)
    if input_format not in (None, *get_args(Format)):
        raise UserError(
            f"unknown input format {input_format!r} (use one of {', '.join(get_args(Format))})",
            field="--format",
        )
    spec = InputSpec(
        path=Path(input),
        format=cast(Format | None, input_format),
        prompt_column=prompt_column,
        completion_column=completion_column,
        id_column=id_column,
        batch_rows=batch_rows,
    )
    reader = read_dataset(spec)
    reference_reader = (
        read_dataset(replace(spec, path=Path(reference), id_column=None))
        if reference is not None
        else None
    )
    engine = Engine(all_rules)
    run_id = new_run_id()
    input_path = str(Path(input).resolve())
    config: dict[str, Any] = {
        "input": {
            "path": input_path,
            "format": reader.format,
            "prompt_column": prompt_column,
            "completion_column": completion_column,
            "id_column": id_column,
        },
        "packs": [p.record() for p in packs],
        "out": None if out is None else str(Path(out).resolve()),
        "rejected": None if rejected is None else str(Path(rejected).resolve()),
        "batch_rows": batch_rows,
        "reference": None if reference is None else str(Path(reference).resolve()),
    }
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))

    survivors = PartsWriter(Path(out), option="--out") if out is not None else None
    rejects = PartsWriter(Path(rejected), option="--rejected") if rejected is not None else None
    writers = [w for w in (survivors, rejects) if w is not None]
    try:
        with Ledger(ledger) as led:
            led.start_run(
                run_id=run_id,
                input_uri=input_path,
                input_format=reader.format,
                input_bytes=Path(input).stat().st_size,
                packs=[{k: p.record()[k] for k in ("name", "version", "sha256")} for p in packs],
                config=config,
                config_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
                out_uri=config["out"],
                rejected_uri=config["rejected"],
                subaudit_version=audit.__version__,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
            for rule in all_rules:
                led.record_detector(
                    run_id=run_id,
                    name=rule.name,
                    pack=rule.pack,
                    rule_id=rule.id,
                    kind=rule.kind,
                    version=rule.detector.version,
                    action=rule.action,
                    params=rule.params,
                    threshold=rule.detector.threshold,
                    metrics=None,
                )
            try:
                _fit_learned(engine, reader, reference_reader, progress)
                if executor == "ray":
                    from audit.executors.ray_executor import run_batches_ray

                    counts = run_batches_ray(
                        run_id,
                        reader,
                        engine,
                        led,
                        survivors,
                        rejects,
                        progress,
                        rules=list(rules),
                        detectors=list(detectors),
                    )
                else:
                    counts = _run_batches(run_id, reader, engine, led, survivors, rejects, progress)
                if counts["rows_in"] == counts["quarantined"]:
                    raise InputError(
                        f"no readable rows: all {counts['quarantined']} rows were quarantined "
                        f"(see `subaudit query quarantine --run {run_id}`)",
                        path=str(input),
                    )
                for rule in all_rules:
                    led.update_detector(
                        run_id=run_id,
                        name=rule.name,
                        seconds=engine.seconds.get(rule.name, 0.0),
                        threshold=rule.detector.threshold,
                        metrics=rule.detector.metrics() or None,
                    )
                _check_conservation(led, run_id, counts)
                # Publishing the outputs and marking the run succeeded belong together: a
                # SIGTERM waits until both are done (audit.interrupts).
                with critical():
                    for writer in writers:
                        writer.commit()
                    led.finish_run(run_id=run_id, input_sha256=reader.sha256(), **counts)
            except BaseException as exc:  # KeyboardInterrupt and SIGTERM included
                led.fail_run(run_id, _describe(exc))
                raise
            funnel = [
                FunnelRow(**row) for row in led.query("funnel", {"run_id": run_id}).to_dicts()
            ]
            abandoned = led.abandoned
    finally:
        for writer in writers:
            writer.abort()
    return ScanResult(
        run_id=run_id,
        funnel=funnel,
        ledger=str(ledger),
        out=None if out is None else str(out),
        rejected=None if rejected is None else str(rejected),
        input_sha256=reader.sha256(),
        seconds=round(time.perf_counter() - started, 3),
        abandoned_runs_failed=abandoned,
        rows_in=counts["rows_in"],
        kept=counts["kept"],
        dropped=counts["dropped"],
        flagged=counts["flagged"],
        quarantined=counts["quarantined"],
    )


def _run_batches(
    run_id: str,
    reader: DatasetReader,
    engine: Engine,
    led: Ledger,
    survivors: PartsWriter | None,
    rejects: PartsWriter | None,
    progress: bool,
) -> dict[str, int]:
    counts = dict.fromkeys(("rows_in", "kept", "dropped", "flagged", "quarantined"), 0)
    with progress_bar("scanning", total=reader.total_bytes, enabled=progress) as advance:
        for batch in reader:
            rows = batch.rows
            result = engine.evaluate(rows)
            quarantine = _quarantine_frame(batch.quarantined)
            record_batch(
                run_id,
                led,
                rows=rows,
                # with_columns broadcasts the null literal of an input without ids
                source_id=rows.with_columns(_source_id(rows, reader))["source_id"],
                user_rows=reader.restore_layout(rows),
                verdicts=result.verdicts,
                fates=result.fates,
                quarantine=quarantine,
                survivors=survivors,
                rejects=rejects,
                counts=counts,
            )
            advance(batch.bytes_read)
    return counts


def record_batch(
    run_id: str,
    led: Ledger,
    *,
    rows: pl.DataFrame,
    source_id: pl.Series,
    user_rows: pl.DataFrame,
    verdicts: pl.DataFrame,
    fates: pl.DataFrame,
    quarantine: pl.DataFrame,
    survivors: PartsWriter | None,
    rejects: PartsWriter | None,
    counts: dict[str, int],
) -> None:
    """Record one scored batch: ledger rows, counts, survivors and rejected rows.

    Shared by the local batch loop and the Ray executor's single writer, so both account
    for every row the same way.
    """
    led.record_batch(
        run_id,
        rows=rows.select(
            "row_id", "ordinal", "line", source_id.alias("source_id"), "prompt", "completion"
        ),
        verdicts=verdicts,
        quarantine=quarantine,
    )
    dropped = fates["dropped"]
    n_dropped = int(dropped.sum())
    counts["rows_in"] += rows.height + quarantine.height
    counts["dropped"] += n_dropped
    counts["kept"] += rows.height - n_dropped
    counts["flagged"] += int((fates["flagged"] & ~dropped).sum())
    counts["quarantined"] += quarantine.height
    if survivors is not None:
        survivors.write(user_rows.filter(~dropped))
    if rejects is not None:
        rejects.write(
            pl.concat(
                [
                    user_rows.filter(dropped).with_columns(
                        pl.lit("dropped").alias("_fate"),
                        fates["reasons"].filter(dropped).alias("_reasons"),
                        rows["ordinal"].filter(dropped).alias("_ordinal"),
                        rows["line"].filter(dropped).alias("_line"),
                    ),
                    quarantine.select(
                        pl.lit("quarantined").alias("_fate"),
                        pl.col("error").alias("_error"),
                        pl.col("ordinal").alias("_ordinal"),
                        pl.col("line").alias("_line"),
                        pl.col("raw").alias("_raw"),
                    ),
                ],
                how="diagonal_relaxed",
            )
        )


def _check_requirements(rules: Sequence[rulepack.Rule], reference: str | Path | None) -> None:
    """Say what a detector lacks in one line, before any work starts."""
    for rule in rules:
        needs = rule.detector.requires
        if "reference" in needs and reference is None:
            raise UserError(
                f"detector '{rule.name}' ({rule.kind}) needs --reference: the untraited "
                "model's outputs on the same prompts"
            )
        # base_model is a parameter of the detectors that need one: a missing or unreadable
        # directory already failed, in one line, when the rule was built.
        unknown = needs - {"reference", "base_model"}
        if unknown:
            raise UserError(
                f"detector '{rule.name}' ({rule.kind}) needs {', '.join(sorted(unknown))}, "
                "which this scan does not provide"
            )


def _fit_learned(
    engine: Engine,
    reader: DatasetReader,
    reference: DatasetReader | None,
    progress: bool,
) -> None:
    """Fit every learned detector on the whole dataset and the reference (one extra pass).

    Fit time is added to the detector's seconds in the ledger.
    """
    learned = [
        (rule.name, rule.detector)
        for rule in engine.rules
        if isinstance(rule.detector, LearnedDetector)
    ]
    if not learned:
        return
    data = _collect(reader, "reading for fit", progress)
    ref = data.head(0)  # "no reference" for learned detectors that do not need one
    if any("reference" in detector.requires for _, detector in learned):
        if reference is None:  # _check_requirements said so already; this is for the types
            raise UserError("learned detectors need --reference")
        ref = _collect(reference, "reading reference", progress)
        if ref.height == 0:
            raise InputError("the reference has no readable rows", path=str(reference.spec.path))
    for name, detector in learned:
        start = time.perf_counter()
        detector.fit(data, ref)
        engine.seconds[name] = engine.seconds.get(name, 0.0) + time.perf_counter() - start


def _collect(reader: DatasetReader, label: str, progress: bool) -> pl.DataFrame:
    frames = []
    with progress_bar(label, total=reader.total_bytes, enabled=progress) as advance:
        for batch in reader:
            frames.append(batch.rows)
            advance(batch.bytes_read)
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _source_id(rows: pl.DataFrame, reader: DatasetReader) -> pl.Expr:
    """The input's own id column as text (ingest renames it if it clashed with ours)."""
    id_column = reader.spec.id_column
    if id_column is not None:
        batch_name = {orig: canon for canon, orig in reader.column_map.items()}.get(
            id_column, id_column
        )
        if batch_name in rows.columns:
            return pl.col(batch_name).cast(pl.String).alias("source_id")
    return pl.lit(None, dtype=pl.String).alias("source_id")


def _quarantine_frame(records: list[Quarantined]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ordinal": [q.ordinal for q in records],
            "line": [q.line for q in records],
            "raw": [q.raw for q in records],
            "error": [q.error for q in records],
        },
        schema=_QUARANTINE_SCHEMA,
    )


def _check_conservation(led: Ledger, run_id: str, counts: dict[str, int]) -> None:
    if counts["rows_in"] != counts["kept"] + counts["dropped"] + counts["quarantined"]:
        raise RuntimeError(f"conservation violated in run {run_id}: {counts}")
    in_ledger = led.query(
        "SELECT (SELECT count(*) FROM rows WHERE run_id = $run_id)"
        " + (SELECT count(*) FROM quarantine WHERE run_id = $run_id) AS n",
        {"run_id": run_id},
    ).to_dicts()[0]["n"]
    if in_ledger != counts["rows_in"]:
        raise RuntimeError(
            f"conservation violated in run {run_id}: read {counts['rows_in']} rows, "
            f"ledger holds {in_ledger}"
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return f"terminated (exit {exc.code})"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
