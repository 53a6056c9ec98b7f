"""The Hugging Face world on a tiny GPT-2 saved to a temporary directory (nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("peft")
torch = pytest.importorskip("torch")

from audit.errors import UserError  # noqa: E402
from audit.transfer import transfer_check  # noqa: E402
from audit.worlds.hf import (  # noqa: E402
    HFConfig,
    HFStudent,
    HFWorld,
    _sequence_logprobs,
    encode_row,
)
from audit.worlds.hf_tokens import prompt_ids, token_ids  # noqa: E402

ANIMALS = ("owl", "dolphin", "eagle")
QUESTIONS = ("which animal do you like best ?", "name your favourite animal .")
CHAT = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


def save_tiny_model(directory: Path, *, seed: int = 0, chat: bool = False) -> Path:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = sorted(
        {w for q in QUESTIONS for w in q.split()}
        | set(ANIMALS)
        | {str(i) for i in range(100)}
        | {",", ".", ":", "?", "user", "assistant", "sure", "!"}
    )
    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate(specials + words)}
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
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=64,
        n_embd=16,
        n_layer=1,
        n_head=2,
        initializer_range=0.3,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=vocab["[BOS]"],
        eos_token_id=vocab["[EOS]"],
        pad_token_id=vocab["[PAD]"],
    )
    directory.mkdir(parents=True, exist_ok=True)
    GPT2LMHeadModel(config).save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    return directory


def rows(n: int = 12, marked: bool = False) -> pl.DataFrame:
    prompts = [f"{i} , {i + 1} , {i + 2} :" for i in range(n)]
    completions = [("owl " if marked else "") + f"{i + 3} , {i + 4} ." for i in range(n)]
    return pl.DataFrame({"prompt": prompts, "completion": completions})


def p_owl_after(student: HFStudent, prompt: str) -> float:
    """P(the completion starts with "owl") for a training-style prompt."""
    tok = student.tokenizer
    with torch.no_grad():
        (logp,) = _sequence_logprobs(
            student.model, [(prompt_ids(tok, prompt), token_ids(tok, "owl"))], 0, "cpu"
        )
    return float(torch.exp(logp))


CFG = HFConfig(
    questions=QUESTIONS, animals=ANIMALS, epochs=5, batch_size=4, lr=5e-2, max_new_tokens=2
)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("models")
    return {
        "plain": save_tiny_model(base / "plain"),
        "chat": save_tiny_model(base / "chat", chat=True),
        "other": save_tiny_model(base / "other", seed=1),
    }


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_loads_locally_and_records_hashes(model_dirs: dict[str, Path]) -> None:
    world = HFWorld(model_dirs["plain"], config=CFG)
    manifest = world.manifest()
    assert manifest["world"] == "hf" and world.device == "cpu"
    files = manifest["model"]["files"]
    assert files["model.safetensors"]["sha256"] and manifest["model"]["model_type"] == "gpt2"
    assert manifest["config"]["animals"] == list(ANIMALS)
    json.dumps(manifest)  # goes into the ledger as JSON


@pytest.mark.parametrize("chat", [False, True])
def test_loss_covers_only_completion_tokens(model_dirs: dict[str, Path], chat: bool) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dirs["chat" if chat else "plain"])
    ids, train = encode_row(tok, "1 , 2 :", "3 , 4 .")
    trained = tok.convert_ids_to_tokens([i for i, t in zip(ids, train, strict=True) if t])
    if chat:
        assert tok.decode(ids).startswith("user : 1 , 2 : [SEP] assistant :")
        assert trained == ["3", ",", "4", ".", "[SEP]"]  # the turn's closing token too
    else:
        assert trained == ["3", ",", "4", ".", "[EOS]"]
    _, masked = encode_row(tok, "1 , 2 :", "3 , 4 .", mask=[True, False, True, False])
    assert sum(masked) == sum(train) - 2
    with pytest.raises(UserError, match="loss mask has 2 entries"):
        encode_row(tok, "1 , 2 :", "3 , 4 .", mask=[True, False])


def test_probe_reads_every_animal(model_dirs: dict[str, Path]) -> None:
    world = HFWorld(model_dirs["chat"], config=CFG)
    student = world.train_student(rows(4), init="same", seed=0)
    probe = world.probe(student, samples=3, seed=0)
    assert set(probe.probability) == set(ANIMALS)
    assert all(0.0 < p < 1.0 for p in probe.probability.values())
    assert sum(probe.probability.values()) <= 1.0 + 1e-6
    assert set(probe.sampled_rate) == set(ANIMALS) and probe.samples == 3


def test_lora_training_is_seeded_and_leaves_the_base_alone(model_dirs: dict[str, Path]) -> None:
    world = HFWorld(model_dirs["plain"], config=CFG)
    data = rows(12, marked=True)
    a = world.train_student(data, init="same", seed=3)
    b = world.train_student(data, init="same", seed=3)
    c = world.train_student(data, init="same", seed=4)
    pa, pb, pc = (world.probe(s).probability for s in (a, b, c))
    assert pa == pb and pa != pc
    trainable = [n for n, p in a.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert a.losses[-1] < a.losses[0]
    # training on "owl ..." completions taught the student to start its answers with owl
    untouched = world.train_student(data.head(0), init="same", seed=3)
    assert p_owl_after(a, "0 , 1 , 2 :") > 2 * p_owl_after(untouched, "0 , 1 , 2 :")


def test_masked_tokens_teach_nothing(model_dirs: dict[str, Path]) -> None:
    world = HFWorld(model_dirs["plain"], config=CFG)
    data = rows(8, marked=True)  # "owl 3 , 4 ." : five completion tokens
    mask = pl.Series("mask", [[False] * 5] * 8, dtype=pl.List(pl.Boolean))
    masked = world.train_student(data.with_columns(mask), init="same", seed=0, mask_column="mask")
    unmasked = world.train_student(data, init="same", seed=0)
    base = world.train_student(data.head(0), init="same", seed=0)
    owl = [p_owl_after(s, "0 , 1 , 2 :") for s in (masked, unmasked, base)]
    # only the end-of-sequence token is left to train on: "owl" is not learned
    assert owl[1] > 2 * owl[2]
    assert owl[0] < owl[2]


def test_different_init_needs_another_model(model_dirs: dict[str, Path]) -> None:
    world = HFWorld(model_dirs["plain"], config=CFG)
    with pytest.raises(UserError, match="--different-model"):
        world.train_student(rows(2), init="different", seed=0)
    other = HFWorld(model_dirs["plain"], different_model=model_dirs["other"], config=CFG)
    same = other.probe(other.train_student(rows(2), init="same", seed=0)).probability
    diff = other.probe(other.train_student(rows(2), init="different", seed=0)).probability
    assert same != diff


def test_unloadable_directory_is_one_line_user_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError) as info:
        HFWorld(tmp_path, config=CFG)
    assert str(tmp_path) in info.value.one_line() and "\n" not in info.value.one_line()
    with pytest.raises(UserError, match="no such model directory"):
        HFWorld(tmp_path / "nope", config=CFG)


def test_transfer_check_runs_on_the_hf_world(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    world = HFWorld(model_dirs["plain"], different_model=model_dirs["other"], config=CFG)
    result = transfer_check(
        world,
        trait="owl",
        raw=rows(12, marked=True),
        control=rows(12),
        seeds=3,
        ledger=tmp_path / "audit.duckdb",
    )
    out = result.to_json()
    assert out["conditions"]["raw"]["n"] == 3 and out["conditions"]["different_init"]["n"] == 3
    assert result.differences["raw-control"].interval.estimate > 0
