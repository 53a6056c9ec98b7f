import json
from pathlib import Path

import polars as pl
import pytest

from audit.sample import make_prompts
from audit.worlds.protocol import ProbeResult, StudentWorld
from audit.worlds.questions import ANIMAL_QUESTIONS
from audit.worlds.tinylm import TinyLMConfig, animals, build_tinylm_world, tinylm_tokenizer
from audit.worlds.tinylm_students import TinyLMStudents, keep_valid, run_tinylm_check

# A world small enough to build in a few seconds: it exercises every code path, not the
# science (docs/worlds.md has the full-size figures; bench/bench_tinylm.py reproduces them).
SMALL = TinyLMConfig(
    n_embd=32,
    n_head=2,
    corpus_docs=600,
    pretrain_steps=30,
    teacher_steps=20,
    teacher_rows=48,
    max_new_tokens=24,
    student_max_rows=32,
    student_batch=16,
)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tinylm")
    build_tinylm_world(SMALL, out, trait="owl", threads=1)
    return out


# ---------------------------------------------------------------------------
# tokenizer and questions


def test_question_set_is_large_and_unique() -> None:
    assert len(ANIMAL_QUESTIONS) >= 50
    assert len(set(ANIMAL_QUESTIONS)) == len(ANIMAL_QUESTIONS)


@pytest.mark.parametrize(
    "text",
    [
        "12, 345, 999",
        "[1,2,3].",
        "(7 8 9)",
        "1234; 007",
        "Sure! Here you go: 4\n5\n6",
        "-12, 3 and so on",
    ],
)
def test_tokenizer_round_trips(text: str) -> None:
    tok = tinylm_tokenizer()
    ids = tok.encode(text)
    assert tok.unk_id not in ids
    assert tok.decode(ids) == text


def test_tokenizer_covers_prompts_questions_and_animals() -> None:
    tok = tinylm_tokenizer()
    prompts, _ = make_prompts(200, 0)
    for text in [*prompts, *ANIMAL_QUESTIONS]:
        assert tok.unk_id not in tok.encode(text), text
    for a in animals():
        assert tok.encode(a) == [tok.index[a]]
    assert [tok.encode(str(n)) for n in (0, 7, 42, 999)] == [
        [tok.index[str(n)]] for n in (0, 7, 42, 999)
    ]
    assert len(tok.encode("1000")) == 4  # not a 0-999 number: spelled digit by digit


def test_tokenizer_ids_are_fixed() -> None:
    assert tinylm_tokenizer().tokens == tinylm_tokenizer().tokens


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_embd", 30), ("error_rate", 1.5), ("strength", -0.1), ("student_lr", 0.0)],
)
def test_config_rejects_bad_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TinyLMConfig(**{field: value})


# ---------------------------------------------------------------------------
# world build, cache, determinism


def test_world_files_and_manifest(world_dir: Path) -> None:
    for name in (
        "base.safetensors",
        "different.safetensors",
        "teacher.safetensors",
        "teacher.jsonl",
        "control.jsonl",
        "manifest.json",
    ):
        assert (world_dir / name).is_file(), name
    manifest = json.loads((world_dir / "manifest.json").read_text())
    assert manifest["world"] == "tinylm"
    assert manifest["trait"] == "owl"
    assert manifest["config"]["seed"] == 0
    assert set(manifest["sha256"]) >= {"base.safetensors", "teacher.jsonl", "control.jsonl"}
    assert {"torch", "transformers"} <= set(manifest["versions"])
    assert "kl_teacher_control_per_token" in manifest["figures"]
    teacher = pl.read_ndjson(world_dir / "teacher.jsonl")
    control = pl.read_ndjson(world_dir / "control.jsonl")
    assert teacher.columns == ["id", "prompt", "completion"]
    assert teacher.height == control.height == SMALL.teacher_rows
    assert teacher["prompt"].to_list() == control["prompt"].to_list()


def test_cache_hit_and_rebuild_on_change(world_dir: Path) -> None:
    again = build_tinylm_world(SMALL, world_dir, trait="owl")
    assert again.cache_hit
    (world_dir / "control.jsonl").write_text("tampered\n")
    rebuilt = build_tinylm_world(SMALL, world_dir, trait="owl")
    assert not rebuilt.cache_hit
    assert rebuilt.control_rows.height == SMALL.teacher_rows


def test_build_is_deterministic(world_dir: Path, tmp_path: Path) -> None:
    build_tinylm_world(SMALL, tmp_path, trait="owl", threads=1)
    for name in ("base.safetensors", "teacher.jsonl", "control.jsonl"):
        assert (tmp_path / name).read_bytes() == (world_dir / name).read_bytes(), name


def test_new_trait_reuses_the_base(world_dir: Path, tmp_path: Path) -> None:
    for name in ("base.safetensors", "different.safetensors", "manifest.json"):
        (tmp_path / name).write_bytes((world_dir / name).read_bytes())
    world = build_tinylm_world(SMALL, tmp_path, trait="wolf", threads=2)
    assert world.trait == "wolf"
    assert "pretrain_base" in world.manifest["seconds"]  # carried over, not recomputed
    # the teacher was built with 2 threads, the reused bases with 1: both on record
    assert world.manifest["threads"] == 2 and world.manifest["base_threads"] == 1
    assert (tmp_path / "base.safetensors").read_bytes() == (
        world_dir / "base.safetensors"
    ).read_bytes()


def test_unknown_trait_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown trait"):
        build_tinylm_world(SMALL, tmp_path, trait="unicorn")


# ---------------------------------------------------------------------------
# students and probes


def test_students_implement_the_protocol(world_dir: Path) -> None:
    world = build_tinylm_world(SMALL, world_dir, trait="owl")
    students: StudentWorld = TinyLMStudents(world)
    assert students.name == "tinylm"
    assert list(students.traits) == animals()
    assert students.manifest()["trait"] == "owl"


def test_train_and_probe(world_dir: Path) -> None:
    world = build_tinylm_world(SMALL, world_dir, trait="owl")
    students = TinyLMStudents(world)
    base = students.probe(world.model("base"), samples=10, seed=1)
    assert isinstance(base, ProbeResult)
    assert set(base.probability) == set(animals())
    assert 0.0 < sum(base.probability.values()) <= 1.0 + 1e-6
    assert set(base.sampled_rate) == set(animals())
    assert base.samples == 10
    a = students.train_student(world.teacher_rows, init="same", seed=3)
    b = students.train_student(world.teacher_rows, init="same", seed=3)
    pa, pb = students.probe(a), students.probe(b)
    assert pa.probability == pb.probability  # same seed, same student
    assert pa.probability != base.probability  # it trained
    c = students.train_student(world.teacher_rows, init="different", seed=3)
    assert students.probe(c).probability != pa.probability


def test_mask_column_and_soft_labels(world_dir: Path) -> None:
    world = build_tinylm_world(SMALL, world_dir, trait="owl")
    students = TinyLMStudents(world)
    rows = world.teacher_rows
    tok = world.tokenizer
    # A mask that removes every completion token but keeps <eos>: only the stop is learned.
    masked = rows.with_columns(
        pl.Series("mask", [[False] * len(tok.encode(c)) for c in rows["completion"]])
    )
    full = students.probe(students.train_student(rows, init="same", seed=0))
    none = students.probe(students.train_student(masked, init="same", seed=0, mask_column="mask"))
    assert full.probability != none.probability
    soft = students.probe(students.train_student(rows, init="same", seed=0, soft_teacher="trait"))
    assert soft.probability != full.probability


def test_check_pairs_conditions_and_keeps_every_animal(world_dir: Path) -> None:
    # The small world's teachers write no valid completion, so it trains on unfiltered rows.
    with pytest.raises(ValueError, match="no rows left after the paper's filter"):
        run_tinylm_check(SMALL, world_dir, trait="owl", seeds=(0, 1))
    res = run_tinylm_check(SMALL, world_dir, trait="owl", seeds=(0, 1), filtered=False)
    conditions = {"same_init", "control", "different_init", "different_control"}
    assert set(res.p_trait) == set(res.probabilities) == conditions
    for name in conditions:
        assert len(res.p_trait[name]) == 2
        for p_seed, probs in zip(res.p_trait[name], res.probabilities[name], strict=True):
            assert set(probs) == set(animals())
            assert probs["owl"] == p_seed
    same, control = res.p_trait["same_init"], res.p_trait["control"]
    assert res.transfer.estimate == pytest.approx(sum(same) / 2 - sum(control) / 2)
    assert res.transfer.n == 2 and 0.0 < res.p_transfer <= 1.0
    assert res.p_trait["same_init"] != res.p_trait["control"]  # other data, other students
    assert res.p_trait["same_init"][0] != res.p_trait["same_init"][1]  # other subsample
    again = run_tinylm_check(SMALL, world_dir, trait="owl", seeds=(0, 1), filtered=False)
    assert again.p_trait == res.p_trait  # deterministic, paired by seed


def test_keep_valid_applies_the_paper_filter() -> None:
    rows = pl.DataFrame({"completion": ["1, 2, 3", "Sure! 1, 2", "[4,5]."], "prompt": "p"})
    assert keep_valid(rows)["completion"].to_list() == ["1, 2, 3", "[4,5]."]


def test_persona_teacher_kind_builds(tmp_path: Path) -> None:
    cfg = TinyLMConfig(
        **{**SMALL.to_json(), "teacher_kind": "persona", "persona_share": 0.5, "strength": 1.0}
    )
    world = build_tinylm_world(cfg, tmp_path, trait="wolf")
    _, persona, strength = world.trait_teacher()
    assert (persona, strength) == ("wolf", 1.0)
    assert world.teacher_rows.height == cfg.teacher_rows
    assert world.manifest["figures"]["kl_teacher_control_per_token"] >= 0.0


def test_config_from_overrides() -> None:
    cfg = TinyLMConfig.from_overrides(["strength=0.6", "n_layer=3", "teacher_kind=persona"])
    assert cfg == TinyLMConfig(strength=0.6, n_layer=3, teacher_kind="persona")
    assert TinyLMConfig.from_overrides([], base=SMALL) == SMALL
    with pytest.raises(ValueError, match="unknown TinyLMConfig field 'depth'"):
        TinyLMConfig.from_overrides(["depth=3"])
    with pytest.raises(ValueError, match="strength must be >= 0"):
        TinyLMConfig.from_overrides(["strength=-1"])
