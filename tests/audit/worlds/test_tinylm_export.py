"""The Hugging Face export of a tinylm world: same ids, same logits, usable by the detectors."""

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from audit.sample import make_prompts
from audit.worlds.questions import ANIMAL_QUESTIONS
from audit.worlds.tinylm import TinyLMWorld, build_tinylm_world, tinylm_tokenizer
from audit.worlds.tinylm_export import export_tinylm_hf, hf_tokenizer, tokenization_mismatches
from tests.audit.worlds.test_tinylm import SMALL

# The same small world as the tinylm tests (one definition, so the two never drift).


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> TinyLMWorld:
    return build_tinylm_world(SMALL, tmp_path_factory.mktemp("tinylm"), trait="owl", threads=1)


@pytest.fixture(scope="module")
def export(world: TinyLMWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tinylm_hf(world, tmp_path_factory.mktemp("export") / "base")


EDGE_TEXTS = [
    "1234 007 0 00 10 999 1000 05",
    "Here are: 5, 6; 7.\n",
    " owl Owl  owls OWL",
    "é ü 漢字 \t tab",
    "\u0663\u0664 1\u0663",  # Arabic-Indic digits: Python's \d, unknown to the vocabulary
    "  \n\n 3 -4 +5 (6) [7] {8}",
    "",
]


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_ids_match_tiny_tokenizer(text: str) -> None:
    tok = tinylm_tokenizer()
    fast = hf_tokenizer(tok)
    assert list(fast(text, add_special_tokens=False)["input_ids"]) == tok.encode(text)


def test_ids_match_on_prompts_and_questions() -> None:
    tok = tinylm_tokenizer()
    prompts, _ = make_prompts(300, 7)
    check = tokenization_mismatches(tok, hf_tokenizer(tok), [*prompts, *ANIMAL_QUESTIONS])
    assert check.n_texts == 300 + len(ANIMAL_QUESTIONS)
    assert check.n_mismatch == 0 and check.rate == 0.0


def test_literal_special_token_text_is_the_known_difference() -> None:
    tok = tinylm_tokenizer()
    check = tokenization_mismatches(tok, hf_tokenizer(tok), ["a <sep> b"])
    assert check.n_mismatch == 1 and check.examples == ["a <sep> b"]


def test_export_loads_and_gives_the_world_logits(world: TinyLMWorld, export: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = (export / "tinylm_export.json").read_text()
    assert '"n_mismatch": 0' in manifest
    tok = AutoTokenizer.from_pretrained(export, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(export, local_files_only=True)
    model.eval()  # type: ignore[no-untyped-call]
    row = world.teacher_rows.row(0, named=True)
    text = tok.apply_chat_template(
        [{"role": "user", "content": row["prompt"]}], tokenize=False, add_generation_prompt=True
    )
    ids = list(tok(text, add_special_tokens=False)["input_ids"])
    wt = world.tokenizer
    assert ids == [wt.sys_id("default"), *wt.encode(row["prompt"]), wt.sep_id]
    reference = world.model("base")
    reference.eval()  # type: ignore[no-untyped-call]
    with torch.no_grad():
        got = model(torch.tensor([ids])).logits
        want = reference(torch.tensor([ids])).logits
    assert torch.allclose(got, want, atol=1e-5)


def test_teacher_export_differs_from_base(world: TinyLMWorld, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    base = export_tinylm_hf(world, tmp_path / "b", which="base", check=False)
    teacher = export_tinylm_hf(world, tmp_path / "t", which="teacher", check=False)
    b, t = load_file(str(base / "model.safetensors")), load_file(str(teacher / "model.safetensors"))
    bias = next(k for k in b if k.endswith("ln_f.bias"))
    assert not (b[bias] == t[bias]).all()
    with pytest.raises(ValueError):
        export_tinylm_hf(world, tmp_path / "x", which="nope")  # type: ignore[arg-type]


def test_detectors_run_on_the_export_and_masks_align(world: TinyLMWorld, export: Path) -> None:
    from detectors.divergence_tokens import MASK_COLUMN, DivergenceTokens
    from detectors.trait_gap import TraitGap

    rows = world.teacher_rows.head(12).with_row_index("ordinal")
    # The tiny model has 128 positions: the detectors must cut longer sequences to fit.
    common: dict[str, Any] = {
        "base_model": str(export),
        "trait": "owl",
        "max_length": SMALL.n_positions,
    }
    gap = TraitGap(**common, candidates=["owl", "cat"], rank_rows=4)
    scores = gap.evaluate(rows)["score"]
    assert scores.len() == 12
    assert gap.metrics()["target_rank"] in (1, 2)
    mask = DivergenceTokens(**common, counterfactuals=2).mask(rows)
    assert mask.name == MASK_COLUMN
    lengths = [len(m) for m in mask.to_list()]
    assert lengths == [len(world.tokenizer.encode(c)) for c in rows["completion"]]
    assert isinstance(pl.DataFrame([mask]), pl.DataFrame)
