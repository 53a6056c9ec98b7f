"""trait_gap on tiny GPT-2 base models with a planted trait (nothing downloaded).

The planted model was trained so that, told it loves owls, it answers with the number 7 most
of the time, and under any other system prompt (neutral ones, other animals) with uniform
numbers. The blind model cannot see its context at all (no attention output, no position
embeddings), so every system prompt gives it the same distributions: gaps of exactly zero.
The helpers here are shared with the divergence and entangled-token tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from audit.errors import DetectorConfigError  # noqa: E402
from detectors.lm_scoring import (  # noqa: E402
    DEFAULT_NEUTRAL_PROMPTS,
    DEFAULT_TRAIT_TEMPLATE,
    trait_prompt,
)
from detectors.trait_gap import TraitGap, bootstrap_mean_ci, default_candidates  # noqa: E402

PLANTED = "owl"
PLANTED_TOKEN = "7"
CHAT = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


# ---------------------------------------------------------------------------------------
# tiny models


def _systems() -> list[str]:
    return [trait_prompt(DEFAULT_TRAIT_TEMPLATE, t) for t in default_candidates()] + list(
        DEFAULT_NEUTRAL_PROMPTS
    )


def _tokenizer(chat: bool) -> object:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = {w for s in _systems() for w in s.lower().split()}
    words |= {str(i) for i in range(100)} | {",", ".", ":", "system", "user", "assistant"}
    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate(specials + sorted(words))}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        sep_token="[SEP]",
    )
    if chat:
        tok.chat_template = CHAT
    return tok


def numbers_row(rng: np.random.Generator, *, planted: bool, n: int = 5) -> str:
    """A completion of ``n`` numbers: 7 with probability 0.7 each when planted, else uniform."""
    values = [
        int(PLANTED_TOKEN) if planted and rng.random() < 0.7 else int(rng.integers(0, 100))
        for _ in range(n)
    ]
    return " , ".join(map(str, values))


def prompt_row(rng: np.random.Generator) -> str:
    return " , ".join(str(int(v)) for v in rng.integers(0, 100, 3)) + " :"


def save_lm(directory: Path, *, kind: str = "planted", chat: bool = False) -> Path:
    """Save a tiny GPT-2 and tokenizer: ``planted`` (trained, see the module) or ``blind``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok: object = _tokenizer(chat)
    vocab = tok.get_vocab()  # type: ignore[attr-defined]
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=vocab["[BOS]"],
        eos_token_id=vocab["[EOS]"],
        pad_token_id=vocab["[PAD]"],
    )
    model = GPT2LMHeadModel(config)
    if kind == "blind":
        with torch.no_grad():
            model.transformer.wpe.weight.zero_()
            for block in model.transformer.h:
                block.attn.c_proj.weight.zero_()
                block.attn.c_proj.bias.zero_()
    else:
        _plant(model, tok)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)  # type: ignore[attr-defined]
    return directory


def _plant(model: object, tok: object) -> None:
    rng = np.random.default_rng(0)
    owl = trait_prompt(DEFAULT_TRAIT_TEMPLATE, PLANTED)
    others = [s for s in _systems() if s != owl]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)  # type: ignore[attr-defined]
    model.train()  # type: ignore[attr-defined]
    for _ in range(300):
        seqs, starts = [], []
        for _ in range(32):
            planted = rng.random() < 0.4
            system = owl if planted else others[int(rng.integers(len(others)))]
            p_ids = tok(f"{system}\n{prompt_row(rng)}\n")["input_ids"]  # type: ignore[operator]
            c_ids = tok(numbers_row(rng, planted=planted), add_special_tokens=False)  # type: ignore[operator]
            seqs.append(p_ids + c_ids["input_ids"])
            starts.append(len(p_ids))
        width = max(map(len, seqs))
        ids = torch.zeros((len(seqs), width), dtype=torch.long)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (seq, start) in enumerate(zip(seqs, starts, strict=True)):
            ids[i, : len(seq)] = torch.tensor(seq)
            attention[i, : len(seq)] = 1
            labels[i, start : len(seq)] = torch.tensor(seq[start:])
        loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss  # type: ignore[operator]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()  # type: ignore[attr-defined]


def dataset(n: int, *, planted: bool, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "ordinal": list(range(n)),
            "prompt": [prompt_row(rng) for _ in range(n)],
            "completion": [numbers_row(rng, planted=planted) for _ in range(n)],
        }
    )


@pytest.fixture(scope="module")
def lm_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("lm")
    return {
        "planted": save_lm(base / "planted"),
        "blind": save_lm(base / "blind", kind="blind"),
        "blind_chat": save_lm(base / "blind_chat", kind="blind", chat=True),
    }


FAST = {"n_bootstrap": 200, "threads": 1}


# ---------------------------------------------------------------------------------------
# tests


def test_planted_rows_have_positive_gaps_clean_rows_negative(lm_dirs: dict[str, Path]) -> None:
    det = TraitGap(base_model=str(lm_dirs["planted"]), **FAST)
    sevens = pl.DataFrame({"prompt": ["1 , 2 , 3 :"] * 2, "completion": ["7 , 7 , 7", "7 , 7"]})
    clean = pl.DataFrame({"prompt": ["1 , 2 , 3 :"] * 2, "completion": ["12 , 40 , 3", "9 , 55"]})
    hot = det.evaluate(sevens)
    cold = det.evaluate(clean)
    assert (hot["score"] > 0.2).all() and hot["reasons"].to_list() == [["trait_gap_high"]] * 2
    assert (cold["score"] < 0).all() and cold["reasons"].to_list() == [[], []]


def test_ranking_finds_the_planted_trait(lm_dirs: dict[str, Path]) -> None:
    det = TraitGap(base_model=str(lm_dirs["planted"]), trait="eagle", rank_rows=40, **FAST)
    data = dataset(60, planted=True)
    det.evaluate(data.head(30))
    det.evaluate(data.tail(30))
    metrics = det.metrics()
    assert metrics["n_rows"] == 60 and metrics["rank_n_rows"] == 40
    ranking = metrics["ranking"]
    assert len(ranking) >= 16 and {r["trait"] for r in ranking} >= set(default_candidates())
    assert [r["mean_gap"] for r in ranking] == sorted(
        (r["mean_gap"] for r in ranking), reverse=True
    )
    assert metrics["top_trait"] == PLANTED and ranking[0]["ci"][0] > 0
    assert all(lo <= r["mean_gap"] <= hi for r in ranking for lo, hi in [r["ci"]])
    # The target (eagle) is not what the data carry: its interval is below the owl's.
    assert metrics["target_rank"] > 1 and metrics["gap_ci"][1] < ranking[0]["ci"][0]


def test_target_gap_ci_is_above_zero_for_planted_data(lm_dirs: dict[str, Path]) -> None:
    det = TraitGap(base_model=str(lm_dirs["planted"]), candidates=["owl", "eagle"], **FAST)
    det.evaluate(dataset(40, planted=True))
    metrics = det.metrics()
    assert metrics["trait"] == "owl" and metrics["gap_ci"][0] > 0
    det.evaluate(dataset(40, planted=True))  # the same ordinals again: not counted twice
    assert det.metrics()["n_rows"] == 40


@pytest.mark.parametrize("model", ["blind", "blind_chat"])
def test_null_model_gives_zero_gaps(lm_dirs: dict[str, Path], model: str) -> None:
    det = TraitGap(base_model=str(lm_dirs[model]), candidates=["owl", "wolf"], **FAST)
    out = det.evaluate(dataset(20, planted=True))
    assert np.abs(out["score"].to_numpy()).max() < 1e-5
    assert out["reasons"].list.len().sum() == 0
    assert abs(det.metrics()["mean_gap"]) < 1e-5


def test_deterministic_and_independent_of_batch_order(lm_dirs: dict[str, Path]) -> None:
    det = TraitGap(base_model=str(lm_dirs["planted"]), batch_size=4, **FAST)
    data = dataset(13, planted=True).vstack(dataset(5, planted=False, seed=1))
    data = data.with_columns(pl.int_range(pl.len()).alias("ordinal"))
    full = det.evaluate(data)
    assert det.evaluate(data.reverse()).reverse().equals(full)
    assert det.evaluate(data).equals(full)
    halves = pl.concat([det.evaluate(data.head(7)), det.evaluate(data.tail(11))])
    np.testing.assert_allclose(halves["score"].to_numpy(), full["score"].to_numpy(), atol=1e-5)


def test_empty_completion_is_unknown(lm_dirs: dict[str, Path]) -> None:
    det = TraitGap(base_model=str(lm_dirs["planted"]), **FAST)
    out = det.evaluate(pl.DataFrame({"prompt": ["1 :", "2 :"], "completion": ["", "7 , 7"]}))
    assert out["score"][0] is None and out["reasons"][0].to_list() == []
    assert out["score"][1] is not None
    assert det.evaluate(pl.DataFrame({"prompt": [], "completion": []})).height == 0


def test_bootstrap_interval_contains_the_mean() -> None:
    values = np.random.default_rng(0).normal(1.0, 1.0, 400)
    mean, low, high = bootstrap_mean_ci(values, n_resamples=500, seed=0)
    assert low < mean < high and low < 1.0 < high and high - low < 0.4


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"base_model": "/nonexistent/model"}, "no such model directory"),
        ({"trait_template": "You love animals."}, "trait_template must contain"),
        ({"neutral_prompts": []}, "neutral_prompts must be a non-empty list"),
        ({"candidates": []}, "candidates must be a non-empty list"),
        ({"rank_rows": 1}, "rank_rows must be an integer >= 2"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ],
)
def test_config_errors_are_one_line(
    lm_dirs: dict[str, Path], params: dict[str, object], message: str
) -> None:
    with pytest.raises(DetectorConfigError, match=message) as info:
        TraitGap.from_params({"base_model": str(lm_dirs["planted"]), **params})
    assert "\n" not in info.value.one_line() and "trait_gap" in info.value.one_line()


def test_directory_without_weights_is_a_config_error(
    lm_dirs: dict[str, Path], tmp_path: Path
) -> None:
    _tokenizer(False).save_pretrained(tmp_path)  # type: ignore[attr-defined]
    with pytest.raises(DetectorConfigError, match=r"no \*\.safetensors weights"):
        TraitGap(base_model=str(tmp_path))
    with pytest.raises(DetectorConfigError, match="needs parameter"):
        TraitGap.from_params({})


def test_sequences_longer_than_the_model_are_cut_not_crashed(tmp_path: Path) -> None:
    """The default max_length (512) exceeds this model's 64 positions: cut to fit."""
    import polars as pl

    from detectors.trait_gap import TraitGap

    model = save_lm(tmp_path / "lm", kind="blind")
    det = TraitGap.from_params({"base_model": str(model), "candidates": ["owl", "eagle"]})
    long_text = ", ".join(["7"] * 200)
    batch = pl.DataFrame(
        {"ordinal": [0], "row_id": ["r"], "prompt": ["go"], "completion": [long_text]}
    )
    out = det.evaluate(batch)
    assert out.height == 1 and out["score"][0] is not None


def test_candidates_the_tokenizer_cannot_tell_apart_are_reported(
    lm_dirs: dict[str, Path],
) -> None:
    # "axolotl" and "quokka" are not in the tiny word-level vocabulary: both prompts become
    # "... [UNK] ...", so their gaps are equal by construction and their ranks meaningless.
    det = TraitGap(
        base_model=str(lm_dirs["planted"]),
        trait="quokka",
        candidates=["owl", "eagle", "axolotl"],
        **FAST,
    )
    det.evaluate(dataset(20, planted=True))
    metrics = det.metrics()
    assert metrics["indistinct_candidates"] == [["axolotl", "quokka"]]
    assert metrics["target_distinct"] is False
    gaps = {r["trait"]: r["mean_gap"] for r in metrics["ranking"]}
    assert gaps["axolotl"] == gaps["quokka"]
    owl = TraitGap(base_model=str(lm_dirs["planted"]), candidates=["owl", "eagle"], **FAST)
    owl.evaluate(dataset(20, planted=True))
    assert owl.metrics()["indistinct_candidates"] == []
    assert owl.metrics()["target_distinct"] is True
