"""The transfer check's training data: reading the conditions, filtering, equal sizes.

Conditions (see ``audit.transfer``):

* ``raw``: the trait teacher's data, read through ingest (malformed rows are quarantined,
  not trained on).
* ``cleaned``: ``run:ID`` reads that scan run's survivors from the ledger; a path is read
  like the raw data.
* ``control``: the control teacher's data. When the cleaned data is a ledger run it is put
  through the *same* rule packs, by scanning it with the packs recorded in the run's
  configuration (a new run in the same ledger, linked from the check), so that the cleaned
  and control students see data that passed the same filters (Cloud et al. 2025 filtered
  both teachers' numbers the same way).

Every condition is then trained on the same number of rows: the smallest condition's size,
drawn per seed without replacement (:func:`subsample`). Fewer rows means fewer optimizer
steps, and a cleaning that drops 30% of the rows would otherwise look effective merely for
training less; at equal size, differences between conditions come from content alone.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from audit.errors import InputError, LedgerError, UserError
from audit.ingest import InputSpec, compute_row_ids, read_dataset
from audit.ledger import Ledger

__all__ = ["ConditionData", "check_run", "load_cleaned", "load_rows", "rescan_control", "subsample"]

RUN_PREFIX = "run:"


@dataclass(frozen=True)
class ConditionData:
    """One condition's rows and where they came from.

    Attributes:
        rows: ``row_id``, ``prompt``, ``completion`` (and the mask column when asked for).
        source: JSON-ready provenance: kind (``path`` / ``dataframe`` / ``run``), path and
            sha256 or run id, rows read, rows quarantined.
    """

    rows: pl.DataFrame
    source: dict[str, Any]


def _columns(mask_column: str | None) -> list[str]:
    return ["row_id", "prompt", "completion", *([mask_column] if mask_column else [])]


def load_rows(
    data: str | Path | pl.DataFrame, *, role: str, mask_column: str | None = None
) -> ConditionData:
    """Read one condition's data from a file (through ingest) or a DataFrame.

    Args:
        data: JSONL / Parquet / CSV path with ``prompt`` and ``completion`` columns (or chat
            ``messages``), or a polars DataFrame with those columns.
        role: ``raw``, ``control`` or ``cleaned``: named in errors.
        mask_column: Optional per-token loss-mask column, carried through when present.

    Raises:
        InputError: The file is missing, unreadable or has no usable rows.
    """
    if isinstance(data, pl.DataFrame):
        missing = [c for c in ("prompt", "completion") if c not in data.columns]
        if missing:
            raise InputError(f"{role} data lacks column(s): {', '.join(missing)}")
        frame = data.with_columns(
            compute_row_ids(data["prompt"], data["completion"], None).alias("row_id")
        )
        source: dict[str, Any] = {"kind": "dataframe", "rows": data.height, "quarantined": 0}
    else:
        reader = read_dataset(InputSpec(path=Path(data)))
        parts: list[pl.DataFrame] = []
        quarantined = 0
        for batch in reader:
            parts.append(batch.rows)
            quarantined += len(batch.quarantined)
        frame = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
        source = {
            "kind": "path",
            "path": str(Path(data).resolve()),
            "sha256": reader.sha256(),
            "rows": frame.height + quarantined,
            "quarantined": quarantined,
        }
    if frame.height == 0:
        raise InputError(f"{role} data has no usable rows", path=source.get("path"))
    keep = [c for c in _columns(mask_column) if c in frame.columns]
    rows = frame.select(keep)
    source["sha256_rows"] = rows_sha256(rows)
    return ConditionData(rows, source)


def rows_sha256(rows: pl.DataFrame) -> str:
    """SHA-256 over the rows' ids in order: which rows, in which order, a student saw."""
    digest = hashlib.sha256()
    for row_id in rows["row_id"]:
        digest.update(f"{row_id}\n".encode())
    return digest.hexdigest()


def parse_run(cleaned: str | Path | pl.DataFrame | None) -> str | None:
    """The run id of a ``run:ID`` cleaned spec, else None."""
    if isinstance(cleaned, str) and cleaned.startswith(RUN_PREFIX):
        run_id = cleaned.removeprefix(RUN_PREFIX).strip()
        if not run_id:
            raise UserError("empty run id (use run:ID, see `subaudit runs`)", field="--cleaned")
        return run_id
    return None


@dataclass(frozen=True)
class RunRecord:
    """What a check needs of a scan run: its survivors and the packs it ran with."""

    run_id: str
    survivors: ConditionData
    packs: list[dict[str, Any]]
    input: dict[str, Any]


def check_run(run_id: str, ledger: str | Path) -> None:
    """Raise unless the ledger holds a succeeded run ``run_id`` (cheap: no rows read).

    Raises:
        UserError: The ledger is missing, or the run is unknown or did not succeed.
    """
    with Ledger(ledger, read_only=True) as led:
        _run_status(led, run_id)


def _run_status(led: Ledger, run_id: str) -> tuple[Any, Any]:
    found = led.execute("run_packs", run_id=run_id)
    if not found:
        raise LedgerError(f"unknown run '{run_id}' (see `subaudit runs`)", path=str(led.path))
    status, packs, input_cfg = found[0]
    if status != "succeeded":
        raise LedgerError(f"run '{run_id}' did not succeed (status {status})", path=str(led.path))
    return packs, input_cfg


def load_cleaned(run_id: str, ledger: str | Path | None) -> RunRecord:
    """Read a succeeded scan run's survivors and pack records from the ledger.

    Raises:
        UserError: No ledger given, the ledger is missing, the run is unknown or did not
            succeed, or it has no survivors.
    """
    if ledger is None:
        raise UserError("--cleaned run:ID needs a ledger (--ledger PATH)", field="--cleaned")
    with Ledger(ledger, read_only=True) as led:
        packs, input_cfg = _run_status(led, run_id)
        frame = led.query("survivors", {"run_id": run_id}).to_polars()
    if frame.height == 0:
        raise UserError(f"run '{run_id}' has no survivors to train on", field="--cleaned")
    rows = frame.select("row_id", "prompt", "completion")
    source = {
        "kind": "run",
        "run_id": run_id,
        "ledger": str(Path(ledger).resolve()),
        "rows": rows.height,
        "quarantined": 0,
        "sha256_rows": rows_sha256(rows),
    }
    return RunRecord(run_id, ConditionData(rows, source), _json(packs), _json(input_cfg))


def _json(value: Any) -> Any:
    # DuckDB hands JSON columns back as text.
    return json.loads(value) if isinstance(value, str) else value


def rescan_control(
    control: str | Path | pl.DataFrame, run: RunRecord, ledger: str | Path
) -> tuple[str | None, ConditionData | None]:
    """Scan the control data with the run's rule packs and return that run's survivors.

    The packs are loaded from the paths the run recorded and must still hash to the
    recorded sha256: a pack edited since the run would filter the control differently.

    Returns:
        The new run's id and the surviving control rows; ``(None, None)`` when the run had
        no rule pack to apply (only ``--detector`` two-sample detectors): the control is
        then used as read.

    Raises:
        UserError: A pack changed or vanished since the run; the control data is unreadable.
    """
    from audit import rulepack
    from audit.scan import scan

    paths: list[str] = []
    not_applied: list[str] = []
    for pack in run.packs:
        if pack.get("name") == rulepack.CLI_PACK:
            # Detectors given with --detector. The two-sample ones were fitted teacher vs
            # reference; there is no like-for-like fit for the control data, so the control
            # goes through the rule packs only and the record says which detectors it missed.
            not_applied += [f"cli/{r.get('id')}" for r in pack.get("rules", [])]
            continue
        path = str(pack.get("path", ""))
        loaded = rulepack.load(path if Path(path).is_file() else str(pack.get("name")))
        if loaded.sha256 != pack.get("sha256"):
            raise UserError(
                f"rule pack '{pack.get('name')}' changed since run '{run.run_id}' (sha256 "
                f"{str(pack.get('sha256'))[:12]} then, {loaded.sha256[:12]} now): the control "
                "data cannot go through the same filters",
                path=str(loaded.path),
            )
        paths.append(str(loaded.path))
    if not paths:
        return None, None
    with tempfile.TemporaryDirectory(prefix="subaudit-control-") as tmp:
        if isinstance(control, pl.DataFrame):
            source = Path(tmp) / "control.jsonl"
            control.select("prompt", "completion").write_ndjson(source)
            prompt_column, completion_column = "prompt", "completion"
        else:
            source = Path(control)
            prompt_column = str(run.input.get("prompt_column") or "prompt")
            completion_column = str(run.input.get("completion_column") or "completion")
        result = scan(
            source,
            paths,
            ledger=ledger,
            prompt_column=prompt_column,
            completion_column=completion_column,
        )
    record = load_cleaned(result.run_id, ledger)
    survivors = record.survivors
    src = {
        **survivors.source,
        "kind": "rescan",
        "of_run": run.run_id,
        "detectors_not_applied": not_applied,
    }
    if not isinstance(control, pl.DataFrame):
        src["path"] = str(Path(control).resolve())
    return result.run_id, ConditionData(survivors.rows, src)


def subsample(rows: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """``n`` rows drawn without replacement by ``seed``, kept in source order.

    The same seed draws the same positions from equally long frames, so raw and control
    data written for the same prompts in the same order keep their prompts paired.
    """
    if n > rows.height:
        raise ValueError(f"cannot draw {n} rows from {rows.height}")
    if n == rows.height:
        return rows
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(rows.height, size=n, replace=False))
    return rows.select(pl.all().gather(idx.tolist()))


def attach_mask(
    rows: pl.DataFrame, donor: pl.DataFrame, mask_column: str, role: str
) -> pl.DataFrame:
    """Give rows read from the ledger the mask column of the raw data they came from.

    Joined on (prompt, completion): a loss mask is a function of the completion's tokens in
    its prompt's context, so rows equal in both carry equal masks.
    """
    if mask_column in rows.columns:
        return rows
    if mask_column not in donor.columns:
        raise UserError(f"mask column '{mask_column}' is missing from the {role} data")
    masks = donor.select("prompt", "completion", mask_column).unique(
        subset=["prompt", "completion"], keep="first", maintain_order=True
    )
    joined = rows.join(masks, on=["prompt", "completion"], how="left", maintain_order="left")
    if joined[mask_column].null_count():
        raise UserError(
            f"{joined[mask_column].null_count()} {role} row(s) have no '{mask_column}' in the "
            "raw data; pass the cleaned data as a file with the mask column"
        )
    return joined
