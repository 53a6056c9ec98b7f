"""Learned detectors in a scan: requirements, the fit pass, packs and --detector options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest

from audit import rulepack
from audit.cli.main import main
from audit.errors import RulePackError, UserError
from audit.ledger import Ledger
from audit.sample import SampleConfig, make_frame
from audit.scan import scan
from detectors.base import LearnedDetector, reasons_from, register


@register
class MeanShift(LearnedDetector):
    """Test detector: score = completion length minus the reference's mean length."""

    kind: ClassVar[str] = "test_mean_shift"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "test only"

    def __init__(self, *, margin: float = 0.0) -> None:
        self.margin = margin

    def fit(self, data: pl.DataFrame, reference: pl.DataFrame) -> MeanShift:
        self.n_data_ = data.height
        self.ref_mean_ = float(reference["completion"].str.len_chars().mean() or 0.0)
        self.threshold_ = self.margin
        return self

    @property
    def threshold(self) -> float | None:
        return getattr(self, "threshold_", None)

    def metrics(self) -> dict[str, float]:
        return {"n_data": self.n_data_, "ref_mean": self.ref_mean_}

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        score = pl.col("completion").str.len_chars().cast(pl.Float64) - self.ref_mean_
        return batch.select(score.alias("score"), reasons_from([(score > self.margin, "longer")]))


def data(tmp_path: Path, name: str, seed: int, rows: int = 300) -> Path:
    path = tmp_path / f"{name}.jsonl"
    make_frame(SampleConfig(rows=rows, seed=seed)).write_ndjson(path)
    return path


def test_learned_detector_is_fitted_on_all_rows_then_scores_every_row(tmp_path: Path) -> None:
    src, ref = data(tmp_path, "teacher", 1), data(tmp_path, "reference", 2)
    led_path = tmp_path / "l.duckdb"
    result = scan(
        src,
        [],
        detectors=["test_mean_shift:margin=30"],
        reference=ref,
        ledger=led_path,
        batch_rows=64,
    )
    with Ledger(led_path, read_only=True) as led:
        (det,) = led.query(
            "SELECT name, threshold, metrics FROM detectors WHERE run_id = $run_id",
            {"run_id": result.run_id},
        ).to_dicts()
        n = led.query(
            "SELECT count(*) AS n FROM verdicts WHERE run_id = $run_id", {"run_id": result.run_id}
        ).to_dicts()[0]["n"]
        (run,) = led.query("run", {"run_id": result.run_id}).to_dicts()
    assert det["name"] == "cli/test_mean_shift" and det["threshold"] == 30.0
    assert json.loads(det["metrics"])["n_data"] == 300  # fitted once, on every row
    assert n == 300
    assert json.loads(run["config"])["reference"] == str(ref.resolve())
    assert result.dropped > 0 and result.kept > 0


def test_missing_reference_is_one_line_before_any_work(tmp_path: Path) -> None:
    src = data(tmp_path, "teacher", 1)
    with pytest.raises(UserError, match="needs --reference"):
        scan(src, [], detectors=["test_mean_shift"], ledger=tmp_path / "l.duckdb")
    assert not (tmp_path / "l.duckdb").exists()


def test_detector_tables_in_a_pack(tmp_path: Path) -> None:
    pack = tmp_path / "p.toml"
    pack.write_text(
        '[pack]\nname = "p"\nversion = "1"\n'
        '[[rule]]\nid = "fmt"\ndetector = "number_format"\n'
        '[[detector]]\nid = "shift"\ndetector = "test_mean_shift"\naction = "flag"\n'
        "[detector.params]\nmargin = 5\n"
    )
    loaded = rulepack.load(str(pack))
    assert [r.name for r in loaded.rules] == ["p/fmt", "p/shift"]
    assert loaded.rules[1].action == "flag"


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (
            ["number_format:max_count=5,banned=[1, 2]"],
            [("cli/number_format", "drop", {"max_count": 5, "banned": [1, 2]})],
        ),
        (
            ['lexicon:words=["owl","cat"],action=flag', "lexicon:words=['x']"],
            [
                ("cli/lexicon", "flag", {"words": ["owl", "cat"]}),
                ("cli/lexicon_2", "drop", {"words": ["x"]}),
            ],
        ),
        (["regex:pattern=a,b"], None),  # "b" is not key=value
    ],
)
def test_cli_detector_specs(
    specs: list[str], expected: list[tuple[str, str, dict[str, object]]] | None
) -> None:
    if expected is None:
        with pytest.raises(RulePackError, match="expected NAME"):
            rulepack.from_cli(specs)
        return
    pack = rulepack.from_cli(specs)
    assert pack is not None
    assert [(r.name, r.action, r.params) for r in pack.rules] == expected


def test_rethreshold_query_moves_the_funnel_without_rescoring(tmp_path: Path) -> None:
    src, ref = data(tmp_path, "teacher", 1), data(tmp_path, "reference", 2)
    led_path = tmp_path / "l.duckdb"
    result = scan(
        src, ["numbers"], detectors=["test_mean_shift:margin=30"], reference=ref, ledger=led_path
    )
    with Ledger(led_path, read_only=True) as led:
        same = led.query(
            "rethreshold",
            {"run_id": result.run_id, "detector": "cli/test_mean_shift", "threshold": 30},
        ).to_dicts()[0]
        looser = led.query(
            "rethreshold",
            {"run_id": result.run_id, "detector": "cli/test_mean_shift", "threshold": 1e9},
        ).to_dicts()[0]
        format_only = led.query(
            "SELECT count(*) AS n FROM verdicts WHERE run_id = $run_id"
            " AND detector = 'numbers/format' AND verdict = 'drop'",
            {"run_id": result.run_id},
        ).to_dicts()[0]["n"]
    assert same["dropped"] == result.dropped and same["kept"] == result.kept
    assert same["dropped_by_detector"] == same["dropped_before"]
    assert looser["dropped_by_detector"] == 0 and looser["dropped"] == format_only


def test_detectors_list_shows_requirements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detectors", "list", "--json"]) == 0
    rows = {r["kind"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["number_format"]["needs"] == "-"
    assert rows["test_mean_shift"]["needs"] == "reference" and rows["test_mean_shift"]["learned"]


def test_scan_cli_needs_rules_or_detector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = data(tmp_path, "teacher", 1, rows=5)
    code = main(
        [
            "scan",
            str(src),
            "--ledger",
            str(tmp_path / "l.duckdb"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2 and "at least one --rules" in capsys.readouterr().err


def test_base_model_detectors_need_no_reference(tmp_path: Path) -> None:
    from tests.detectors.test_trait_gap import save_lm

    model = save_lm(tmp_path / "lm", kind="blind")
    src = data(tmp_path, "teacher", 1, rows=60)
    result = scan(
        src,
        ["numbers"],
        detectors=[f"entangled_tokens:base_model='{model}'", f"trait_gap:base_model='{model}'"],
        ledger=tmp_path / "l.duckdb",
    )
    names = {row.detector for row in result.funnel}
    assert {"cli/entangled_tokens", "cli/trait_gap"} <= names
    assert result.rows_in == 60
