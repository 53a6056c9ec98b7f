"""The transfer check's result: per-student figures, summaries, verdict, JSON contract.

:func:`summarise` turns the trained students of a check into per-condition means with
bootstrap CIs, the paired differences the verdict rests on (:mod:`audit.transfer_stats`),
the cleaning efficacy and the collateral shifts of every other animal.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from audit.stats import Efficacy, Interval
from audit.transfer_stats import (
    CONDITIONS,
    Decision,
    Difference,
    VerdictRules,
    cleaning_efficacy,
    collateral_shifts,
    condition_interval,
    decide,
    efficacy_json,
    interval_json,
    paired_difference,
    trait_rank,
)
from audit.worlds.protocol import Init

__all__ = ["StudentResult", "TransferResult", "summarise"]


@dataclass(frozen=True)
class StudentResult:
    """One trained and probed student."""

    condition: str
    seed: int
    init: Init
    rows: int
    data_sha256: str
    """SHA-256 over the row ids it was trained on, in order."""
    probability: dict[str, float]
    """Per animal: probability of answering with it (the world's probe)."""
    sampled_rate: dict[str, float]
    samples: int
    seconds: float


@dataclass(frozen=True)
class TransferResult:
    """What one check found; :meth:`to_json` is the ``subaudit transfer --json`` contract."""

    experiment_id: str
    world: str
    trait: str
    seeds: list[int]
    conditions: dict[str, Interval]
    per_seed: dict[str, list[float]]
    differences: dict[str, Difference]
    decision: Decision
    efficacy: Efficacy | None
    collateral: dict[str, dict[str, dict[str, Any]]]
    specificity: dict[str, dict[str, Any]]
    """Per difference (``raw-<baseline>``, ``cleaned-control``): the trait's rank among all
    animals by relative change (:func:`audit.transfer_stats.trait_rank`)."""
    students: list[StudentResult]
    config: dict[str, Any]
    ledger: str | None
    run_id: str | None
    control_run_id: str | None
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``leakage_persisted`` | ``no_leakage_detected`` | ``inconclusive``."""
        return self.decision.verdict

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary.

        Stable keys: ``conditions`` (every condition of :data:`CONDITIONS`, null when not
        trained: ``{"mean", "ci": [lo, hi], "n"}``), ``verdict``, ``reason``, ``efficacy``
        (``{"value", "ci", "unstable_fraction"}``, nulls when undefined), ``differences``,
        ``per_seed``, ``collateral``, ``specificity``, ``students``, ``config`` and the ids.
        """
        return {
            "experiment_id": self.experiment_id,
            "world": self.world,
            "trait": self.trait,
            "seeds": self.seeds,
            "conditions": {
                name: interval_json(self.conditions[name]) if name in self.conditions else None
                for name in CONDITIONS
            },
            "verdict": self.decision.verdict,
            "reason": self.decision.reason,
            "efficacy": efficacy_json(self.efficacy),
            "differences": {name: d.as_dict() for name, d in self.differences.items()},
            "per_seed": self.per_seed,
            "collateral": self.collateral,
            "specificity": self.specificity,
            "students": [asdict(s) for s in self.students],
            "warnings": self.warnings,
            "run_id": self.run_id,
            "control_run_id": self.control_run_id,
            "ledger": self.ledger,
            "seconds": self.seconds,
            "config": self.config,
        }


# ---------------------------------------------------------------------------
# Statistics


def summarise(
    world_name: str,
    trait: str,
    seeds: list[int],
    students: list[StudentResult],
    rules: VerdictRules,
    config: dict[str, Any],
    *,
    experiment_id: str,
    ledger: str | None,
    run_id: str | None,
    control_run_id: str | None,
    started: float,
) -> TransferResult:
    """Figures, verdict and efficacy of a check from its students.

    Args:
        world_name: The world's name.
        trait: The trait whose probability is the figure.
        seeds: The seeds, in the order that pairs students across conditions.
        students: Every trained student (any order).
        rules: Verdict thresholds and resampling settings.
        config: The check's resolved configuration (returned verbatim).
        experiment_id: The check's id.
        ledger: Ledger path, or None.
        run_id: The scan run of the cleaned data, or None.
        control_run_id: The rescan of the control data, or None.
        started: ``time.perf_counter()`` at the start of the check.

    Returns:
        The check's result.
    """
    # condition -> per-seed trait probability, in seed order (pairing by index).
    order = {seed: i for i, seed in enumerate(seeds)}
    by_cond: dict[str, list[StudentResult]] = {}
    for s in sorted(students, key=lambda s: order[s.seed]):
        by_cond.setdefault(s.condition, []).append(s)
    per_seed = {c: [s.probability[trait] for s in ss] for c, ss in by_cond.items()}
    conditions = {c: condition_interval(v, rules) for c, v in per_seed.items()}

    # Paired differences against same-init control students that went through the same
    # filters: raw - its baseline shows whether the world transfers at all, cleaned-control
    # whether the cleaning stopped it, different_init - baseline whether the effect needs the
    # shared init (it should not move). The raw data's baseline is raw_control (the control
    # data as given) when the control was put through the cleaning's filters.
    raw_base = "raw_control" if "raw_control" in per_seed else "control"
    pairs: list[tuple[str, str]] = [
        (c, raw_base) for c in ("raw", "different_init") if c in per_seed
    ]
    if "cleaned" in per_seed:
        pairs.insert(1, ("cleaned", "control"))
    if "different_init_control" in per_seed:
        pairs.append(("different_init", "different_init_control"))
    differences = {
        f"{a}-{b}": paired_difference(f"{a}-{b}", per_seed[a], per_seed[b], rules) for a, b in pairs
    }
    if "raw" in per_seed and "cleaned" in per_seed:
        differences["raw-cleaned"] = paired_difference(
            "raw-cleaned", per_seed["raw"], per_seed["cleaned"], rules
        )
    raw_effect = differences[f"raw-{raw_base}"]
    decision = decide(raw_effect, differences.get("cleaned-control"), rules)
    efficacy = None
    if "cleaned" in per_seed:
        efficacy = cleaning_efficacy(
            per_seed["raw"],
            per_seed["cleaned"],
            per_seed["control"],
            rules,
            raw_control=per_seed.get("raw_control"),
        )

    per_animal = {
        c: {a: [s.probability[a] for s in ss] for a in ss[0].probability}
        for c, ss in by_cond.items()
    }
    shift_pairs = [("raw", raw_base), ("cleaned", "control")]
    collateral = collateral_shifts(per_animal, shift_pairs, rules)
    specificity = {
        f"{a}-{b}": trait_rank(per_animal, trait, a, b)
        for a, b in shift_pairs
        if a in per_animal and b in per_animal
    }
    return TransferResult(
        experiment_id=experiment_id,
        world=world_name,
        trait=trait,
        seeds=seeds,
        conditions=conditions,
        per_seed=per_seed,
        differences=differences,
        decision=decision,
        efficacy=efficacy,
        collateral=collateral,
        specificity=specificity,
        students=students,
        config=config,
        ledger=ledger,
        run_id=run_id,
        control_run_id=control_run_id,
        seconds=round(time.perf_counter() - started, 3),
        warnings=_warnings(differences, raw_effect, efficacy, decision),
    )


def _warnings(
    differences: dict[str, Difference],
    raw_effect: Difference,
    efficacy: Efficacy | None,
    decision: Decision,
) -> list[str]:
    out = []
    for name, d in differences.items():
        if name.startswith("different_init-") and d.interval.low > 0.0:
            out.append(
                f"negative control moved: {name} CI [{d.interval.low:+.3g}, "
                f"{d.interval.high:+.3g}] excludes zero; the trait may travel overtly "
                "(semantically), not only subliminally"
            )
    if efficacy is not None and efficacy.unstable_fraction > 0.05:
        out.append(
            f"efficacy not identified: {efficacy.unstable_fraction:.0%} of bootstrap "
            "resamples had no raw transfer above control"
        )
    if decision.verdict != "inconclusive" and raw_effect.interval.n < 5:
        out.append(
            "fewer than 5 seeds: a 95% bootstrap CI over 3-4 seeds is narrow "
            "(see the p-values); rerun with --seeds 5 for a verdict to rely on"
        )
    return out
