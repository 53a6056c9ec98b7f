"""``subaudit demo``: the whole story on the embedded default, in minutes.

1. Build the ``tinylm`` world (cached in ``DIR/world`` after the first run): a tiny GPT-2
   base, a trait teacher (owl) and a control teacher that write number sequences.
2. Scan the trait teacher's data twice into a fresh ledger: with the rule packs
   (``numbers``, ``animals``) and with the rule packs plus the two-sample detectors
   (``contrast_classifier``, ``token_log_odds``) against the control teacher's data.
3. Transfer checks: students trained on the raw, rules-cleaned, detector-cleaned and
   control data (plus different-init students), paired seeds, verdicts and efficacies.
4. Gate the detector-cleaned run (the gate reads the transfer verdict too) and write the
   report of that run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.worlds.tinylm_config import TinyLMConfig

DEMO_PACKS = ("numbers", "animals")
DEMO_DETECTORS = ("contrast_classifier", "token_log_odds")


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things and what it found."""

    out_dir: Path
    world_dir: Path
    ledger: Path
    report: Path
    world_cache_hit: bool
    runs: dict[str, str]
    """``rules`` and ``detectors``: the two scan runs' ids."""
    scans: dict[str, dict[str, Any]]
    gate: dict[str, Any]
    transfer: dict[str, dict[str, Any]]
    """Per cleaning (``rules``, ``detectors``): verdict, reason, efficacy, conditions."""
    seconds: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """The ``demo --json`` object."""
        return {
            "runs": self.runs,
            "gate": self.gate,
            "transfer": self.transfer,
            "scans": self.scans,
            "paths": {
                "out": str(self.out_dir),
                "world": str(self.world_dir),
                "ledger": str(self.ledger),
                "report": str(self.report),
            },
            "world_cache_hit": self.world_cache_hit,
            "seconds": self.seconds,
        }


def run_demo(
    out_dir: str | Path = "subaudit-demo",
    *,
    trait: str = "owl",
    seeds: int = 3,
    threads: int | None = None,
    progress: bool = False,
    world_config: TinyLMConfig | None = None,
) -> DemoResult:
    """Run the demo end to end (a fresh ledger each time; the world is cached).

    Args:
        out_dir: Output directory: ``world/``, ``audit.duckdb``, ``report.html``, survivors.
        trait: The trait teacher's animal.
        seeds: Student seeds per condition.
        threads: torch threads (default: both cores).
        progress: Progress bars on stderr.
        world_config: The tinylm world's configuration (default: the tuned defaults of
            docs/worlds.md; tests pass a smaller one).
    """
    import torch

    from audit.gate import gate
    from audit.report import render_report
    from audit.scan import scan
    from audit.transfer import transfer_check
    from audit.worlds.tinylm import build_tinylm_world
    from audit.worlds.tinylm_students import TinyLMStudents

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, min(2, torch.get_num_threads()))
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    config = world_config or TinyLMConfig()
    world = build_tinylm_world(config, out / "world", trait=trait, threads=threads)
    seconds["world"] = time.perf_counter() - clock
    teacher, control = world.out_dir / "teacher.jsonl", world.out_dir / "control.jsonl"

    ledger = out / "audit.duckdb"
    ledger.unlink(missing_ok=True)
    clock = time.perf_counter()
    rules_run = scan(
        teacher,
        DEMO_PACKS,
        ledger=ledger,
        out=out / "survivors-rules.jsonl",
        id_column="id",
        progress=progress,
    )
    detector_run = scan(
        teacher,
        DEMO_PACKS,
        detectors=DEMO_DETECTORS,
        reference=control,
        ledger=ledger,
        out=out / "survivors.jsonl",
        rejected=out / "rejected.jsonl",
        id_column="id",
        progress=progress,
    )
    seconds["scans"] = time.perf_counter() - clock

    students = TinyLMStudents(world, threads=threads)
    transfer: dict[str, dict[str, Any]] = {}
    clock = time.perf_counter()
    for name, run, different in (("rules", rules_run, True), ("detectors", detector_run, False)):
        # The different-init negative control is trained once (with its own control
        # baseline, since a different base has its own prior over animals).
        result = transfer_check(
            students,
            trait=trait,
            raw=teacher,
            control=control,
            cleaned=f"run:{run.run_id}",
            seeds=seeds,
            ledger=ledger,
            different_init=different,
            different_init_control=different,
            progress=progress,
        )
        summary = result.to_json()
        transfer[name] = {
            "experiment_id": summary["experiment_id"],
            "verdict": summary["verdict"],
            "reason": summary["reason"],
            "efficacy": summary["efficacy"],
            "conditions": summary["conditions"],
            "warnings": summary["warnings"],
        }
    seconds["transfer"] = time.perf_counter() - clock

    clock = time.perf_counter()
    gated = gate(detector_run.run_id, "numbers", ledger=ledger).to_json()
    report = out / "report.html"
    render_report(detector_run.run_id, report, ledger=ledger)
    seconds["gate_report"] = time.perf_counter() - clock
    return DemoResult(
        out_dir=out,
        world_dir=world.out_dir,
        ledger=ledger,
        report=report,
        world_cache_hit=world.cache_hit,
        runs={"rules": rules_run.run_id, "detectors": detector_run.run_id},
        scans={
            name: {k: s.to_json()[k] for k in ("rows_in", "kept", "dropped", "quarantined")}
            for name, s in (("rules", rules_run), ("detectors", detector_run))
        },
        gate={"passed": gated["passed"], "counts": gated["counts"], "gate_id": gated["gate_id"]},
        transfer=transfer,
        seconds={k: round(v, 1) for k, v in seconds.items()},
    )
