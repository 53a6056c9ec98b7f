"""The transfer check's orchestration, verdict rules, ledger records and CLI, on a fake world.

The fake world is deterministic with a planted effect: a same-init student's trait
probability is ``base + effect * share`` where ``share`` is the fraction of its training
rows that carry the trait marker, plus noise shared by every student of a seed (it cancels
in paired differences) and noise that depends on the exact training data. With
``format_effect``, rows with a format error ("Sure! ...") move every student's trait
probability too, as training on unfiltered data does in a real world: a filter then changes
students by itself, whatever the teacher.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from audit.cli import main as cli_main
from audit.cli import transfer as transfer_cli
from audit.cli.main import main
from audit.errors import UserError
from audit.ledger import Ledger
from audit.sample import make_prompts
from audit.scan import scan
from audit.stats import Interval
from audit.transfer import transfer_check
from audit.transfer_data import subsample
from audit.transfer_stats import Difference, VerdictRules, decide, paired_difference
from audit.transfer_worlds import WORLD_OPENERS, WorldRequest, resolve_world
from audit.worlds.protocol import ProbeResult

MARK = "313"  # a number in valid format: survives the numbers pack (a subtle signal)


class FakeWorld:
    name = "fake"
    traits = ("owl", "dolphin", "eagle")

    def __init__(
        self,
        *,
        effect: float = 0.4,
        base: float = 0.10,
        seed_noise: float = 0.03,
        data_noise: float = 0.002,
        format_effect: float = 0.0,
        fail_on: str | None = None,
    ) -> None:
        self.effect, self.base, self.format_effect = effect, base, format_effect
        self.seed_noise, self.data_noise = seed_noise, data_noise
        self.fail_on = fail_on
        self.calls: list[dict[str, Any]] = []

    def manifest(self) -> dict[str, Any]:
        return {"world": "fake", "effect": self.effect, "base": self.base}

    def train_student(
        self, rows: pl.DataFrame, *, init: str, seed: int, mask_column: str | None = None
    ) -> dict[str, float]:
        if self.fail_on is not None and self.fail_on in init:
            raise RuntimeError("training diverged")
        marked = rows["completion"].str.contains(rf"\b{MARK}\b|owl")
        if mask_column is not None:  # a fully masked row teaches nothing
            marked = marked & rows[mask_column].list.any()
        share = float(marked.mean() or 0.0)  # type: ignore[arg-type]
        digest = hashlib.sha256("\n".join(rows["completion"]).encode()).digest()
        data_rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
        seed_rng = np.random.default_rng([seed, init == "same"])
        shared = self.seed_noise * seed_rng.normal()
        lift = self.effect * share if init == "same" else 0.0
        chatty = float(rows["completion"].str.starts_with("Sure!").mean() or 0.0)  # type: ignore[arg-type]
        owl = self.base + lift + self.format_effect * chatty + shared
        owl += self.data_noise * data_rng.normal()
        self.calls.append(
            {"init": init, "seed": seed, "rows": rows.height, "share": share, "data": rows}
        )
        return {
            "owl": owl,
            "dolphin": 0.2 - lift / 2 + shared + self.data_noise * data_rng.normal(),
            "eagle": 0.3 + self.data_noise * data_rng.normal(),
        }

    def probe(self, student: Any, *, samples: int = 0, seed: int = 0) -> ProbeResult:
        rates = {a: min(1.0, max(0.0, p)) for a, p in student.items()} if samples else {}
        return ProbeResult(probability=student, sampled_rate=rates, samples=samples)


def make_data(
    n: int = 300, *, subtle: float = 0.0, blatant: float = 0.0, errors: float = 0.2, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Teacher and control data on the same prompts; ``errors`` of each fail the format."""
    prompts, _ = make_prompts(n, seed)
    rng = np.random.default_rng(seed)

    def numbers() -> list[str]:
        return [str(x if x != int(MARK) else 314) for x in rng.integers(100, 1000, 5)]

    control, teacher = [], []
    for _ in range(n):
        c, t = numbers(), numbers()
        chatty = rng.random() < errors
        control.append(("Sure! " if chatty else "") + ", ".join(c))
        u = rng.random()
        if u < subtle:
            t.append(MARK)
        text = ", ".join(t)
        if subtle <= u < subtle + blatant:
            text = "owl " + text  # fails the format: the numbers pack drops it
        teacher.append(("Sure! " if rng.random() < errors else "") + text)
    return (
        pl.DataFrame({"prompt": prompts, "completion": teacher}),
        pl.DataFrame({"prompt": prompts, "completion": control}),
    )


def write(frames: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path) -> tuple[Path, Path]:
    raw, control = tmp_path / "teacher.jsonl", tmp_path / "control.jsonl"
    frames[0].write_ndjson(raw)
    frames[1].write_ndjson(control)
    return raw, control


def scanned(raw: Path, led: Path) -> str:
    return "run:" + scan(raw, ["numbers"], ledger=led).run_id


# ---------------------------------------------------------------------------
# Verdict rules, branch by branch


def diff(name: str, est: float, lo: float, hi: float, n: int = 5) -> Difference:
    interval = Interval(est, lo, hi, 0.95, n)
    return Difference(name, interval, interval, (lo, hi), 0.03)


RULES = VerdictRules()


@pytest.mark.parametrize(
    ("raw", "cleaned", "verdict", "says"),
    [
        # with cleaned data
        ((0.12, 0.08, 0.16), (0.10, 0.05, 0.15), "leakage_persisted", "cleaned students exceed"),
        ((0.01, -0.02, 0.04), (0.03, 0.01, 0.05), "leakage_persisted", "raw itself did not"),
        ((0.12, 0.08, 0.16), (0.00, -0.01, 0.01), "no_leakage_detected", "below 0.5 x"),
        ((0.12, 0.08, 0.16), (-0.03, -0.05, -0.01), "no_leakage_detected", "below 0.5 x"),
        ((0.01, -0.02, 0.04), (0.00, -0.01, 0.01), "inconclusive", "raw data shows no transfer"),
        ((0.12, 0.08, 0.16), (0.02, -0.03, 0.07), "inconclusive", "power too low"),
        # without: the verdict speaks of the raw data
        ((0.12, 0.08, 0.16), None, "leakage_persisted", "raw students exceed"),
        ((0.00, 0.00, 0.00), None, "no_leakage_detected", "rules out"),
        ((0.01, -0.02, 0.04), None, "inconclusive", "does not rule out"),
    ],
)
def test_verdict_rules(
    raw: tuple[float, float, float],
    cleaned: tuple[float, float, float] | None,
    verdict: str,
    says: str,
) -> None:
    decision = decide(
        diff("raw-control", *raw),
        None if cleaned is None else diff("cleaned-control", *cleaned),
        RULES,
    )
    assert decision.verdict == verdict
    assert says in decision.reason


def test_too_few_seeds_are_inconclusive() -> None:
    decision = decide(diff("raw-control", 0.3, 0.2, 0.4, n=2), None, RULES)
    assert decision.verdict == "inconclusive" and "2 seed(s)" in decision.reason


def test_verdict_rules_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="residual_fraction"):
        VerdictRules(residual_fraction=0.0)


def test_subsample_is_seeded_and_keeps_source_order() -> None:
    rows = pl.DataFrame({"row_id": [str(i) for i in range(50)]})
    a, b = subsample(rows, 20, seed=3), subsample(rows, 20, seed=3)
    assert a.equals(b) and a.height == 20
    ids = [int(x) for x in a["row_id"]]
    assert ids == sorted(ids)
    assert not subsample(rows, 20, seed=4).equals(a)
    assert subsample(rows, 50, seed=1).equals(rows)


# ---------------------------------------------------------------------------
# End to end on the fake world


def test_subtle_signal_survives_cleaning_leakage_persisted(tmp_path: Path) -> None:
    raw, control = write(make_data(subtle=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    run = scanned(raw, led)
    world = FakeWorld()
    result = transfer_check(
        world, trait="owl", raw=raw, control=control, cleaned=run, seeds=5, ledger=led
    )
    assert result.verdict == "leakage_persisted"
    d = result.differences
    # raw is compared with the control as given, cleaned with the control filtered alike
    assert set(d) == {
        "raw-raw_control",
        "cleaned-control",
        "different_init-raw_control",
        "raw-cleaned",
    }
    assert d["raw-raw_control"].interval.low > 0.05 and d["cleaned-control"].interval.low > 0.05
    # the marker survives the filter: cleaning removed nothing of the trait
    assert result.efficacy is not None and abs(result.efficacy.value) < 0.2
    di = d["different_init-raw_control"].interval
    assert di.low < 0 < di.high
    # pairing: every condition of one seed trains on the same number of rows
    sizes = {(c["seed"], c["rows"]) for c in world.calls}
    assert len(sizes) == 5 and len({n for _, n in sizes}) == 1


def test_blatant_signal_removed_no_leakage_detected_with_efficacy(tmp_path: Path) -> None:
    raw, control = write(make_data(blatant=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    result = transfer_check(
        FakeWorld(),
        trait="owl",
        raw=raw,
        control=control,
        cleaned=scanned(raw, led),
        seeds=5,
        ledger=led,
    )
    assert result.verdict == "no_leakage_detected", result.decision.reason
    eff = result.efficacy
    assert eff is not None and 0.9 < eff.value < 1.1 and eff.low < 1.0 < eff.high
    out = result.to_json()
    assert out["efficacy"]["value"] == pytest.approx(eff.value)
    # collateral: the planted effect pulls dolphin down as owl rises, eagle does not move
    raw_shift = out["collateral"]["raw-raw_control"]
    assert raw_shift["owl"]["mean"] > 0.05 and raw_shift["dolphin"]["mean"] < -0.02
    assert abs(raw_shift["eagle"]["mean"]) < 0.01
    # owl moved up most of the three animals in the raw data; not in the cleaned data
    assert out["specificity"]["raw-raw_control"]["rank"] == 1
    assert out["specificity"]["raw-raw_control"]["of"] == 3
    assert out["specificity"]["raw-raw_control"]["relative_change"] > 0.3
    assert abs(out["specificity"]["cleaned-control"]["relative_change"]) < 0.05


def test_no_raw_transfer_is_inconclusive(tmp_path: Path) -> None:
    raw, control = write(make_data(subtle=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    result = transfer_check(
        FakeWorld(effect=0.0),
        trait="owl",
        raw=raw,
        control=control,
        cleaned=scanned(raw, led),
        seeds=5,
        ledger=led,
    )
    assert result.verdict == "inconclusive"
    assert "raw data shows no transfer" in result.decision.reason
    assert result.efficacy is not None and result.efficacy.unstable_fraction > 0.05
    assert any("efficacy not identified" in w for w in result.warnings)


def test_without_cleaned_the_verdict_speaks_of_the_raw_data(tmp_path: Path) -> None:
    teacher, control = make_data(subtle=0.3)
    result = transfer_check(
        FakeWorld(), trait="owl", raw=teacher, control=control, seeds=3, different_init=False
    )
    assert result.verdict == "leakage_persisted" and result.efficacy is None
    out = result.to_json()
    assert out["conditions"]["cleaned"] is None and out["conditions"]["different_init"] is None
    assert out["efficacy"] == {"value": None, "ci": [None, None], "unstable_fraction": None}
    assert any("fewer than 5 seeds" in w for w in result.warnings)


@pytest.mark.parametrize("with_cleaned", [False, True])
def test_control_vs_control_never_says_leakage(tmp_path: Path, with_cleaned: bool) -> None:
    _, control = write(make_data(subtle=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    cleaned = scanned(control, led) if with_cleaned else None
    for noise_seed in range(3):  # a few different worlds, not one lucky draw
        world = FakeWorld(data_noise=0.01 * (noise_seed + 1))
        result = transfer_check(
            world,
            trait="owl",
            raw=control,
            control=control,
            cleaned=cleaned,
            seeds=5,
            ledger=led,
        )
        assert result.verdict in ("no_leakage_detected", "inconclusive")
        if not with_cleaned:
            # the same data and the same seed give the same student: a difference of exactly 0
            assert result.verdict == "no_leakage_detected"
            assert result.differences["raw-control"].interval.high == 0.0


def test_ledger_holds_every_student_config_and_linked_run(tmp_path: Path) -> None:
    raw, control = write(make_data(subtle=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    run = scanned(raw, led)
    result = transfer_check(
        FakeWorld(),
        trait="owl",
        raw=raw,
        control=control,
        cleaned=run,
        seeds=[7, 11, 13],
        ledger=led,
        different_init_control=True,
        probe_samples=10,
    )
    with Ledger(led, read_only=True) as ledger:
        (exp,) = ledger.query(
            "SELECT * FROM experiments WHERE experiment_id = $e",
            {"e": result.experiment_id},
        ).to_dicts()
        students = ledger.query("experiment_students", {"experiment_id": result.experiment_id})
        probes = ledger.query(
            "SELECT * FROM experiment_probes WHERE experiment_id = $e", {"e": result.experiment_id}
        ).to_polars()
        listed = ledger.query("experiments").to_dicts()
        control_run = ledger.query("run", {"run_id": result.control_run_id}).to_dicts()
    assert exp["status"] == "succeeded" and exp["verdict"] == result.verdict
    assert exp["run_id"] == run.removeprefix("run:") == result.run_id
    assert control_run[0]["status"] == "succeeded" and control_run[0]["input_uri"] == str(
        control.resolve()
    )
    config = json.loads(exp["config"])
    assert config == result.config and config["seeds"] == [7, 11, 13]
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert exp["config_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert json.loads(exp["world_manifest"])["world"] == "fake"
    assert json.loads(exp["result"])["verdict"] == result.verdict
    assert exp["efficacy"] == pytest.approx(result.efficacy.value)  # type: ignore[union-attr]
    frame = students.to_polars()
    conditions = {
        "raw",
        "raw_control",
        "cleaned",
        "control",
        "different_init",
        "different_init_control",
    }
    assert set(frame["condition"]) == conditions and frame.height == 6 * 3
    assert set(frame["seed"]) == {7, 11, 13}
    assert frame["trait_sampled_rate"].null_count() == 0
    assert probes.height == 6 * 3 * 3 and set(probes["animal"]) == {"owl", "dolphin", "eagle"}
    assert listed[0]["experiment_id"] == result.experiment_id and listed[0]["n_seeds"] == 3
    assert "different_init-different_init_control" in result.differences


def test_cleaned_run_trains_on_survivors_and_filtered_control(tmp_path: Path) -> None:
    raw, control = write(make_data(subtle=0.3, errors=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    run = scan(raw, ["numbers"], ledger=led)
    world = FakeWorld()
    result = transfer_check(
        world,
        trait="owl",
        raw=raw,
        control=control,
        cleaned=f"run:{run.run_id}",
        seeds=3,
        ledger=led,
        different_init=False,
    )
    sources = result.config["sources"]
    assert sources["cleaned"]["kind"] == "run" and sources["cleaned"]["rows"] == run.kept
    assert sources["control"]["kind"] == "rescan"
    assert sources["control"]["rows"] < 300  # the chatty control rows were filtered out
    assert sources["raw_control"]["kind"] == "path" and sources["raw_control"]["rows"] == 300
    n = result.config["rows_per_student"]
    assert n == min(run.kept, sources["control"]["rows"])
    for call in world.calls:
        assert call["rows"] == n
    # Per seed: raw, raw_control, cleaned, control. Raw students and their baseline saw
    # chatty rows; cleaned and control students never did.
    assert result.config["conditions"] == ["raw", "raw_control", "cleaned", "control"]
    chatty = [c["data"]["completion"].str.starts_with("Sure!").sum() for c in world.calls]
    assert chatty[0] > 0 and chatty[1] > 0 and chatty[2] == chatty[3] == 0


def test_mask_column_reaches_the_world_and_follows_survivors(tmp_path: Path) -> None:
    teacher, control = make_data(subtle=0.3)
    # mask every token of the marked rows: the trait has nothing left to train on
    mask = [[MARK not in c] * 3 for c in teacher["completion"]]
    teacher = teacher.with_columns(pl.Series("mask", mask, dtype=pl.List(pl.Boolean)))
    control = control.with_columns(
        pl.Series("mask", [[True] * 3] * control.height, dtype=pl.List(pl.Boolean))
    )
    raw = tmp_path / "teacher.parquet"
    teacher.write_parquet(raw)
    control_path = tmp_path / "control.parquet"
    control.write_parquet(control_path)
    led = tmp_path / "audit.duckdb"
    result = transfer_check(
        FakeWorld(),
        trait="owl",
        raw=raw,
        control=control_path,
        cleaned=scanned(raw, led),
        seeds=3,
        ledger=led,
        mask_column="mask",
    )
    assert abs(result.differences["raw-raw_control"].interval.estimate) < 0.01
    assert result.verdict == "inconclusive"


@pytest.mark.parametrize("trait_effect", [0.0, 0.4])
def test_each_condition_is_compared_with_a_control_filtered_alike(
    tmp_path: Path, trait_effect: float
) -> None:
    # Format errors move students by themselves (+0.05 per share of chatty rows). Raw data
    # compared with the *filtered* control would count that as transfer: two samples of
    # the same untraited teacher would "leak", and a cleaning would get credit for it.
    teacher, control = make_data(subtle=0.3, errors=0.3)
    raw, control_path = write((teacher, control), tmp_path)
    led = tmp_path / "audit.duckdb"
    world = FakeWorld(effect=trait_effect, format_effect=0.05, data_noise=0.0005)
    result = transfer_check(
        world,
        trait="owl",
        raw=raw,
        control=control_path,
        cleaned=scanned(raw, led),
        seeds=5,
        ledger=led,
    )
    d = result.differences
    raw_effect, cleaned = d["raw-raw_control"].interval, d["cleaned-control"].interval
    if trait_effect == 0.0:
        # Nothing to find: raw and its baseline both carry ~30% chatty rows.
        assert raw_effect.low < 0.004 and abs(raw_effect.estimate) < 0.004
        assert result.verdict == "inconclusive"
        assert "raw data shows no transfer" in result.decision.reason
    else:
        # The marker survives the filter: the cleaning removed none of the trait, and the
        # efficacy says so (raw against the filtered control would have credited it with
        # the format effect: 0.015 of a 0.135 difference).
        assert raw_effect.low > 0.05 and cleaned.low > 0.05
        assert result.verdict == "leakage_persisted"
        assert result.efficacy is not None and abs(result.efficacy.value) < 0.1


def test_failed_training_marks_the_experiment_failed(tmp_path: Path) -> None:
    teacher, control = make_data()
    led = tmp_path / "audit.duckdb"
    with pytest.raises(RuntimeError, match="diverged"):
        transfer_check(
            FakeWorld(fail_on="different"),
            trait="owl",
            raw=teacher,
            control=control,
            seeds=3,
            ledger=led,
        )
    with Ledger(led, read_only=True) as ledger:
        (row,) = ledger.query("experiments").to_dicts()
        n = ledger.query("SELECT count(*) AS n FROM experiment_students").to_dicts()[0]["n"]
    assert row["status"] == "failed" and "diverged" in row["error"]
    assert n == 2  # the raw and control students of seed 0, trained before the failure


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trait": "unicorn"}, "not an animal of world 'fake'"),
        ({"seeds": [1, 1]}, "no repeats"),
        ({"cleaned": "run:nope"}, "unknown run 'nope'"),
        ({"cleaned": "run:"}, "empty run id"),
        ({"raw": "missing.jsonl"}, "missing.jsonl"),
    ],
)
def test_user_errors(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    raw, control = write(make_data(n=20), tmp_path)
    led = tmp_path / "audit.duckdb"
    Ledger(led).close()
    args: dict[str, Any] = {"trait": "owl", "raw": raw, "control": control, "ledger": led}
    if kwargs.get("raw"):
        kwargs = {**kwargs, "raw": tmp_path / kwargs["raw"]}
    with pytest.raises(UserError, match=message) as info:
        transfer_check(FakeWorld(), **{**args, **kwargs})
    assert "\n" not in info.value.one_line()


# ---------------------------------------------------------------------------
# Worlds and CLI


@pytest.fixture
def fake_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorld]:
    world = FakeWorld()
    monkeypatch.setitem(WORLD_OPENERS, "fake", lambda _dir, _request: world)
    if transfer_cli not in cli_main._COMMANDS:  # until main.py registers the command
        monkeypatch.setattr(cli_main, "_COMMANDS", (*cli_main._COMMANDS, transfer_cli))
    yield world


def test_world_resolution(tmp_path: Path, fake_world: FakeWorld) -> None:
    request = WorldRequest(trait="owl")
    assert resolve_world("fake", None, request) is fake_world
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "manifest.json").write_text('{"world": "fake"}')
    assert resolve_world(str(tmp_path / "w"), None, request) is fake_world
    (tmp_path / "w" / "manifest.json").write_text('{"world": "digits"}')
    with pytest.raises(UserError, match="'digits' cannot train students"):
        resolve_world(str(tmp_path / "w"), None, request)
    with pytest.raises(UserError, match="unknown world 'nope'"):
        resolve_world("nope", None, request)
    with pytest.raises(UserError, match="not both"):
        resolve_world("fake", str(tmp_path), request)


def test_cli_json_contract(
    tmp_path: Path, fake_world: FakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, control = write(make_data(blatant=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    run = scanned(raw, led)
    argv = [
        "transfer",
        "--world",
        "fake",
        "--trait",
        "owl",
        "--raw",
        str(raw),
        "--control",
        str(control),
        "--cleaned",
        run,
        "--seeds",
        "5",
        "--ledger",
        str(led),
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["conditions"]) >= {"raw", "control", "cleaned", "different_init"}
    for name in ("raw", "control", "cleaned", "different_init"):
        cond = out["conditions"][name]
        assert set(cond) == {"mean", "ci", "n"} and cond["n"] == 5 and len(cond["ci"]) == 2
        assert cond["ci"][0] <= cond["mean"] <= cond["ci"][1]
    assert out["verdict"] == "no_leakage_detected"
    assert set(out["efficacy"]) >= {"value", "ci"} and len(out["efficacy"]["ci"]) == 2
    assert out["experiment_id"].startswith("exp-") and out["trait"] == "owl"
    assert out["run_id"] == run.removeprefix("run:")
    assert len(out["per_seed"]["raw"]) == 5 and "cleaned-control" in out["differences"]


def test_cli_human_output(
    tmp_path: Path, fake_world: FakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, control = write(make_data(subtle=0.3, n=100), tmp_path)
    argv = [
        "transfer",
        "--world",
        "fake",
        "--trait",
        "owl",
        "--raw",
        str(raw),
        "--control",
        str(control),
        "--ledger",
        str(tmp_path / "l.duckdb"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "verdict: leakage_persisted" in out and "raw-control" in out
    assert "raw-control: owl moved 1 of 3 animals" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--raw", "missing.jsonl"], "missing.jsonl: --raw: no such file"),
        (["--cleaned", "run:nope"], "unknown run 'nope'"),
        (["--cleaned", "gone.jsonl"], "--cleaned: no such file"),
        (["--world", "nope"], "unknown world 'nope'"),
        (["--trait", "unicorn"], "not an animal"),
        (["--seeds", "0"], "--seeds: must be >= 1"),
        (["--world", "WORLD_DIR"], "no manifest.json"),
        (["--model", "MODEL_DIR", "--world", None], "--different-model"),
    ],
)
def test_cli_user_errors_are_one_line(
    tmp_path: Path,
    fake_world: FakeWorld,
    capsys: pytest.CaptureFixture[str],
    extra: list[str | None],
    message: str,
) -> None:
    raw, control = write(make_data(n=20), tmp_path)
    led = tmp_path / "audit.duckdb"
    scanned(raw, led)  # the ledger exists; the run id is what is wrong
    (tmp_path / "WORLD_DIR").mkdir()
    (tmp_path / "MODEL_DIR").mkdir()
    opts: dict[str, str | None] = {
        "--world": "fake",
        "--trait": "owl",
        "--raw": str(raw),
        "--control": str(control),
        "--ledger": str(led),
    }
    for key, value in zip(extra[::2], extra[1::2], strict=True):
        assert key is not None
        opts[key] = (
            str(tmp_path / value)
            if (value and value.isupper()) or (value and value.endswith(".jsonl"))
            else value
        )
    argv = ["transfer"] + [x for k, v in opts.items() if v is not None for x in (k, v)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("subaudit: error:")
    assert message in err


@pytest.mark.parametrize("k", [3, 5])
def test_null_false_positive_rate_stays_below_five_percent(k: int) -> None:
    # Control vs control with independent noise: how often would the check cry leakage?
    # The percentile bootstrap alone says so whenever all 3 differences share a sign
    # (1 in 8 one-sided); the envelope with the t interval holds the nominal 2.5%.
    rng = np.random.default_rng(k)
    rules = VerdictRules(n_resamples=1000)
    hits = bootstrap_hits = 0
    for _ in range(300):
        a, b = rng.normal(0.1, 0.01, k), rng.normal(0.1, 0.01, k)
        d = paired_difference("raw-control", list(a), list(b), rules)
        hits += decide(d, None, rules).verdict == "leakage_persisted"
        bootstrap_hits += d.bootstrap.low > 0
    assert hits / 300 < 0.05
    if k == 3:
        assert bootstrap_hits / 300 > 0.08  # what the envelope guards against


def test_small_consistent_noise_is_not_leakage_at_three_seeds() -> None:
    d = paired_difference("cleaned-control", [0.101, 0.106, 0.1034], [0.1, 0.1, 0.1], RULES)
    assert d.bootstrap.low > 0 and d.interval.low < 0  # bootstrap alone would say leakage
    raw = paired_difference("raw-control", [0.3, 0.32, 0.31], [0.1, 0.1, 0.1], RULES)
    assert decide(raw, d, RULES).verdict == "no_leakage_detected"
    assert d.as_dict()["ci"] == [d.interval.low, d.interval.high]


@pytest.mark.parametrize("with_pack", [True, False])
def test_cleaned_run_with_two_sample_detectors(tmp_path: Path, with_pack: bool) -> None:
    """The control goes through the run's rule packs; --detector ones are recorded as not
    applied (a teacher-vs-reference fit has no like-for-like counterpart for the control)."""
    raw, control = write(make_data(subtle=0.3, errors=0.3), tmp_path)
    led = tmp_path / "audit.duckdb"
    run = scan(
        raw,
        ["numbers"] if with_pack else [],
        detectors=["token_log_odds:n_permutations=2,n_bootstrap=10"],
        reference=control,
        ledger=led,
    )
    result = transfer_check(
        FakeWorld(),
        trait="owl",
        raw=raw,
        control=control,
        cleaned=f"run:{run.run_id}",
        seeds=3,
        ledger=led,
        different_init=False,
    )
    source = result.config["sources"]["control"]
    if with_pack:
        assert source["kind"] == "rescan" and source["rows"] < 300
        assert source["detectors_not_applied"] == ["cli/token_log_odds"]
    else:  # nothing to apply: the control is used as read
        assert source["kind"] != "rescan" and source["rows"] == 300


def test_trait_rank_orders_relative_changes() -> None:
    from audit.transfer_stats import trait_rank

    per_animal = {
        "raw": {"owl": [0.02, 0.02], "cat": [0.50, 0.50], "fox": [0.012, 0.012]},
        "control": {"owl": [0.01, 0.01], "cat": [0.40, 0.40], "fox": [0.01, 0.01]},
    }
    # owl doubled (+0.69 in log), cat +0.22, fox +0.18: owl first although cat moved more
    # in absolute terms
    out = trait_rank(per_animal, "owl", "raw", "control")
    assert out["rank"] == 1 and out["of"] == 3
    assert out["relative_change"] == pytest.approx(np.log(2.0))
    assert trait_rank(per_animal, "fox", "raw", "control")["rank"] == 3
    per_animal["raw"]["owl"] = [0.0, 0.0]
    assert trait_rank(per_animal, "owl", "raw", "control")["rank"] is None


def test_raw_control_is_the_baseline_of_raw_when_the_cleaning_was_done_elsewhere(
    tmp_path: Path,
) -> None:
    # A cleaning the check cannot repeat (a file): the user gives the control filtered
    # alike (--control) and unfiltered (--raw-control).
    teacher, control = make_data(subtle=0.3, errors=0.3)
    chatty = pl.col("completion").str.starts_with("Sure!")
    world = FakeWorld(effect=0.0, format_effect=0.05, data_noise=0.0005)
    result = transfer_check(
        world,
        trait="owl",
        raw=teacher,
        control=control.filter(~chatty),
        cleaned=teacher.filter(~chatty),
        raw_control=control,
        seeds=5,
        different_init=False,
    )
    assert result.config["conditions"] == ["raw", "raw_control", "cleaned", "control"]
    assert abs(result.differences["raw-raw_control"].interval.estimate) < 0.004
    with pytest.raises(UserError, match="--raw-control goes with --cleaned PATH"):
        transfer_check(world, trait="owl", raw=teacher, control=control, raw_control=control)


def test_cli_raw_control_reaches_the_check(
    tmp_path: Path, fake_world: FakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, control = write(make_data(subtle=0.3), tmp_path)
    argv = ["transfer", "--world", "fake", "--trait", "owl", "--raw", str(raw)]
    argv += ["--control", str(control), "--cleaned", str(raw), "--raw-control", str(control)]
    assert main([*argv, "--seeds", "3", "--json", "--ledger", str(tmp_path / "l.duckdb")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["conditions"]["raw_control"]["n"] == 3
    assert "raw-raw_control" in out["differences"]
