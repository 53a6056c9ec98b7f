"""The trait-transfer check: does a trait still leak from the cleaned data into students?

Protocol (Cloud et al. 2025, "Subliminal Learning", arXiv 2507.14805; see DESIGN.md):
students are fine-tuned from the teacher's base initialization on

* ``raw``: the trait teacher's data,
* ``cleaned``: the data a cleaning kept (a ledger run's survivors, or a file),
* ``control``: an untraited teacher's data on the same prompts, through the same filters
  as the cleaned data,
* ``raw_control``: when the control went through the cleaning's filters, the control data
  as given: the baseline of ``raw``, which was not filtered either. Each condition is
  compared with a control that went through what it went through; raw against the filtered
  control would count the filter's own effect on students as transfer (measured on the
  tinylm world: two independent samples of one model differ by +0.0013 in P(owl), CI above
  zero, when one of them is filtered and the other not),
* ``different_init``: the raw data, but from a different initialization (the negative
  control: subliminal transfer needs a shared init, so these students should not move),

all at the same size (the smallest condition's, :mod:`audit.transfer_data`), ``k`` seeds
each, seed ``i`` of every condition sharing data order and initialization noise. Every
student answers the world's favourite-animal questions (:meth:`StudentWorld.probe`); its
figure is the probability of the trait answer. Statistics and verdict rules live in
:mod:`audit.transfer_stats`; every student, figure and the resolved configuration go into
the ledger's ``experiments`` tables (``sql/schema/002_experiments.sql``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

import audit
from audit.errors import UserError
from audit.ledger import Ledger
from audit.progress import progress_bar
from audit.transfer_data import (
    ConditionData,
    attach_mask,
    load_cleaned,
    load_rows,
    parse_run,
    rescan_control,
    rows_sha256,
    subsample,
)
from audit.transfer_result import StudentResult, TransferResult, summarise
from audit.transfer_stats import VerdictRules, efficacy_json
from audit.worlds.protocol import StudentWorld

__all__ = ["StudentResult", "TransferResult", "VerdictRules", "transfer_check"]

DataArg = str | Path | pl.DataFrame


def new_experiment_id() -> str:
    """Sortable and unique: ``exp-YYYYMMDD-HHMMSS-xxxxxx``."""
    return f"exp-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


# ---------------------------------------------------------------------------
# Data for every condition


@dataclass(frozen=True)
class _Plan:
    data: dict[str, ConditionData]  # condition -> rows (different_init* reuse raw/control)
    run_id: str | None
    control_run_id: str | None


def _prepare(
    raw: DataArg,
    control: DataArg,
    cleaned: DataArg | None,
    ledger: str | Path | None,
    mask_column: str | None,
    raw_control: DataArg | None = None,
) -> _Plan:
    raw_data = load_rows(raw, role="raw", mask_column=mask_column)
    control_data = load_rows(control, role="control", mask_column=mask_column)
    data = {"raw": raw_data, "control": control_data}
    if raw_control is not None:
        if cleaned is None or parse_run(cleaned) is not None:
            raise UserError(
                "--raw-control goes with --cleaned PATH (a run's control is filtered by the "
                "run's own packs, and its raw control is --control itself)",
                field="--raw-control",
            )
        data["raw_control"] = load_rows(raw_control, role="raw_control", mask_column=mask_column)
    run_id = control_run_id = None
    if cleaned is not None:
        run_id = parse_run(cleaned)
        if run_id is None:
            data["cleaned"] = load_rows(cleaned, role="cleaned", mask_column=mask_column)
        else:
            if ledger is None:
                raise UserError("--cleaned run:ID needs a ledger (--ledger PATH)")
            record = load_cleaned(run_id, ledger)
            data["cleaned"] = record.survivors
            # The control goes through the very packs that made the cleaned data.
            control_run_id, rescanned = rescan_control(control, record, ledger)
            if rescanned is not None:
                data["raw_control"] = control_data
                data["control"] = rescanned
    if mask_column is not None:
        if mask_column not in raw_data.rows.columns:
            raise UserError(f"mask column '{mask_column}' is missing from the raw data")
        donors = {
            "raw": raw_data,
            "cleaned": raw_data,
            "control": control_data,
            "raw_control": data.get("raw_control", control_data),
        }
        for name, cond in data.items():
            rows = attach_mask(cond.rows, donors[name].rows, mask_column, name)
            data[name] = ConditionData(rows, cond.source)
    return _Plan(data, run_id, control_run_id)


# ---------------------------------------------------------------------------
# The check


def transfer_check(
    world: StudentWorld,
    *,
    trait: str,
    raw: DataArg,
    control: DataArg,
    cleaned: DataArg | None = None,
    raw_control: DataArg | None = None,
    seeds: int | Sequence[int] = 3,
    ledger: str | Path | None = None,
    mask_column: str | None = None,
    different_init: bool = True,
    different_init_control: bool = False,
    probe_samples: int = 0,
    max_rows: int | None = None,
    rules: VerdictRules | None = None,
    progress: bool = False,
) -> TransferResult:
    """Train students on raw / cleaned / control data and judge whether the trait leaked.

    Args:
        world: Where students are trained and probed.
        trait: The teacher's trait, one of ``world.traits``.
        raw: The trait teacher's data (path or DataFrame with ``prompt``, ``completion``).
        control: The control teacher's data on the same prompts.
        cleaned: ``"run:ID"`` (that scan run's survivors; the control data is then scanned
            with the same packs into the same ledger), a path, a DataFrame, or None (the
            verdict then speaks of the raw data).
        raw_control: With ``cleaned`` a path or DataFrame, whose filter the check cannot
            repeat: ``control`` is then the control data filtered as the cleaned data was,
            and ``raw_control`` the control data as given (the raw data's baseline).
            Without it, both are compared with ``control``.
        seeds: Number of seeds ``k`` (seeds ``0..k-1``) or the seeds themselves.
        ledger: DuckDB ledger for the records (and for ``run:ID``); None records nothing.
        mask_column: Per-token loss-mask column (``List(Boolean)``) passed to the world.
        different_init: Train the different-init negative control on the raw data.
        different_init_control: Also train the different init on the control data, giving
            the negative control a baseline from its own init.
        probe_samples: Temperature-1 samples per question in the probe (0: logits only).
        max_rows: Cap on the rows per student (after equalising the condition sizes).
        rules: Verdict thresholds (defaults: :class:`VerdictRules`).
        progress: Progress bar on stderr while training.

    Returns:
        The check's figures, verdict and efficacy.

    Raises:
        UserError: Unknown trait, unreadable data, unknown run, too few rows (one line).
    """
    started = time.perf_counter()
    rules = rules or VerdictRules()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise UserError(f"need at least one seed and no repeats, got {seed_list}", field="--seeds")
    if trait not in world.traits:
        raise UserError(
            f"trait '{trait}' is not an animal of world '{world.name}' "
            f"(known: {', '.join(world.traits)})",
            field="--trait",
        )
    if probe_samples < 0 or (max_rows is not None and max_rows < 1):
        raise UserError("probe_samples must be >= 0 and max_rows >= 1")
    plan = _prepare(raw, control, cleaned, ledger, mask_column, raw_control)

    # (condition, data condition, init): which students to train.
    conditions = [(name, name, "same") for name in ("raw", "raw_control", "cleaned", "control")]
    if different_init:
        conditions.append(("different_init", "raw", "different"))
        if different_init_control:
            # The different init's own baseline: the control data filtered as raw was.
            raw_base = "raw_control" if "raw_control" in plan.data else "control"
            conditions.append(("different_init_control", raw_base, "different"))
    conditions = [c for c in conditions if c[1] in plan.data]
    n_rows = min(d.rows.height for d in plan.data.values())
    if max_rows is not None:
        n_rows = min(n_rows, max_rows)

    experiment_id = new_experiment_id()
    config: dict[str, Any] = {
        "world": world.name,
        "trait": trait,
        "seeds": seed_list,
        "conditions": [c[0] for c in conditions],
        "rows_per_student": n_rows,
        "sources": {name: d.source for name, d in plan.data.items()},
        "cleaned": None if cleaned is None or isinstance(cleaned, pl.DataFrame) else str(cleaned),
        "mask_column": mask_column,
        "probe_samples": probe_samples,
        "max_rows": max_rows,
        "rules": asdict(rules),
        "subaudit_version": audit.__version__,
    }
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    led = Ledger(ledger) if ledger is not None else None
    try:
        if led is not None:
            led.execute("fail_abandoned_experiments")
            led.execute(
                "insert_experiment",
                experiment_id=experiment_id,
                run_id=plan.run_id,
                control_run_id=plan.control_run_id,
                world=world.name,
                world_manifest=world.manifest(),
                trait=trait,
                seeds=seed_list,
                config=config,
                config_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
                subaudit_version=audit.__version__,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        try:
            students = _train_all(
                world,
                plan,
                conditions,
                seed_list,
                n_rows,
                mask_column,
                probe_samples,
                led,
                experiment_id,
                trait,
                progress,
            )
            result = summarise(
                world.name,
                trait,
                seed_list,
                students,
                rules,
                config,
                experiment_id=experiment_id,
                ledger=None if ledger is None else str(ledger),
                run_id=plan.run_id,
                control_run_id=plan.control_run_id,
                started=started,
            )
            if led is not None:
                eff = efficacy_json(result.efficacy)
                led.execute(
                    "finish_experiment",
                    experiment_id=experiment_id,
                    verdict=result.decision.verdict,
                    verdict_reason=result.decision.reason,
                    efficacy=eff["value"],
                    efficacy_low=eff["ci"][0],
                    efficacy_high=eff["ci"][1],
                    result=result.to_json(),
                    seconds=result.seconds,
                )
        except BaseException as exc:  # KeyboardInterrupt and SIGTERM included
            if led is not None:
                led.execute("fail_experiment", experiment_id=experiment_id, error=_describe(exc))
            raise
    finally:
        if led is not None:
            led.close()
    return result


def _train_all(
    world: StudentWorld,
    plan: _Plan,
    conditions: list[tuple[str, str, str]],
    seeds: list[int],
    n_rows: int,
    mask_column: str | None,
    probe_samples: int,
    led: Ledger | None,
    experiment_id: str,
    trait: str,
    progress: bool,
) -> list[StudentResult]:
    students: list[StudentResult] = []
    total = len(conditions) * len(seeds)
    columns = ["prompt", "completion", *([mask_column] if mask_column else [])]
    with progress_bar(f"training {total} students", total=total, enabled=progress) as advance:
        # Seed-major: an interrupted check still has complete pairs for the seeds it did.
        for seed in seeds:
            for name, source, init in conditions:
                t0 = time.perf_counter()
                rows = subsample(plan.data[source].rows, n_rows, seed)
                student = world.train_student(
                    rows.select(columns),
                    init="same" if init == "same" else "different",
                    seed=seed,
                    mask_column=mask_column,
                )
                probe = world.probe(student, samples=probe_samples, seed=seed)
                del student
                result = StudentResult(
                    condition=name,
                    seed=seed,
                    init="same" if init == "same" else "different",
                    rows=rows.height,
                    data_sha256=rows_sha256(rows),
                    probability={a: float(p) for a, p in probe.probability.items()},
                    sampled_rate={a: float(p) for a, p in probe.sampled_rate.items()},
                    samples=probe.samples,
                    seconds=round(time.perf_counter() - t0, 3),
                )
                students.append(result)
                if led is not None:
                    _record_student(led, experiment_id, trait, result)
                advance(len(students))
    return students


def _record_student(led: Ledger, experiment_id: str, trait: str, s: StudentResult) -> None:
    animals = sorted(s.probability)
    student = pl.DataFrame(
        {
            "condition": [s.condition],
            "seed": [s.seed],
            "init": [s.init],
            "rows_trained": [s.rows],
            "data_sha256": [s.data_sha256],
            "trait_probability": [s.probability[trait]],
            "trait_sampled_rate": [s.sampled_rate.get(trait)],
            "samples": [s.samples],
            "seconds": [s.seconds],
        },
        schema_overrides={"trait_sampled_rate": pl.Float64},
    )
    probes = pl.DataFrame(
        {
            "condition": [s.condition] * len(animals),
            "seed": [s.seed] * len(animals),
            "animal": animals,
            "probability": [s.probability[a] for a in animals],
            "sampled_rate": [s.sampled_rate.get(a) for a in animals],
        },
        schema_overrides={"sampled_rate": pl.Float64},
    )
    led.insert_frames(
        {"students": student, "probes": probes},
        {"students": "insert_experiment_students", "probes": "insert_experiment_probes"},
        experiment_id=experiment_id,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return f"terminated (exit {exc.code})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
