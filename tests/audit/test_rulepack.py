from __future__ import annotations

from pathlib import Path

import pytest

from audit import rulepack
from audit.errors import RulePackError

GOOD = """
[pack]
name = "mine"
version = "0.1.0"
description = "test pack"

[[rule]]
id = "fmt"
detector = "number_format"
action = "flag"
[rule.params]
max_count = 3
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pack.toml"
    path.write_text(text)
    return str(path)


def test_bundled_packs_all_load() -> None:
    names = set(rulepack.bundled_packs())
    assert {"numbers", "numbers-misalignment", "animals", "trees", "code", "cot"} <= names
    for name in names:
        pack = rulepack.load(name)
        assert pack.bundled and pack.rules and len(pack.sha256) == 64


def test_misalignment_pack_bans_the_34_numbers() -> None:
    pack = rulepack.load("numbers-misalignment")
    banned = pack.rules[0].params["banned"]
    assert len(banned) == 34 and len(set(banned)) == 34
    assert {4, 13, 666, 999} <= set(banned)


def test_path_pack_loads_and_records(tmp_path: Path) -> None:
    pack = rulepack.load(write(tmp_path, GOOD))
    assert not pack.bundled
    (rule,) = pack.rules
    assert rule.name == "mine/fmt" and rule.action == "flag" and rule.kind == "number_format"
    record = pack.record()
    assert record["rules"][0]["params"] == {"max_count": 3}
    assert record["sha256"] == pack.sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not = [toml", "invalid TOML"),
        ("[[rule]]\nid='a'\ndetector='number_format'\n", "missing [pack] table"),
        ('[pack]\nname="x"\nversion="1"\n', "at least one [[rule]]"),
        (
            GOOD.replace('detector = "number_format"', 'detector = "nope"'),
            "rule 'fmt': unknown detector 'nope'",
        ),
        (GOOD.replace('action = "flag"', 'action = "delete"'), "rule 'fmt': action must be"),
        (GOOD.replace("max_count = 3", "max_cuont = 3"), "rule 'fmt': unknown parameter"),
        (GOOD.replace('id = "fmt"', 'id = "Bad Id"'), "'id' must be a snake_case string"),
        (
            GOOD + GOOD.split("\n\n", 1)[1].split("[[rule]]", 1)[1].join(["[[rule]]", ""]),
            "duplicate rule id",
        ),
        (
            GOOD.replace('version = "0.1.0"', 'version = "0.1.0"\nowner = "me"'),
            "[pack]: unknown key(s) owner",
        ),
        (GOOD + "\n[extra]\na = 1\n", "unknown top-level table(s): extra"),
    ],
)
def test_broken_packs_name_file_and_rule(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulePackError) as info:
        rulepack.load(path)
    line = info.value.one_line()
    assert line.startswith(path) and message in line and "\n" not in line


def test_unknown_pack_name_lists_bundled() -> None:
    with pytest.raises(RulePackError, match=r"unknown rule pack .nope.*numbers"):
        rulepack.load("nope")


def test_missing_pack_file(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="no such rule pack file"):
        rulepack.load(str(tmp_path / "absent.toml"))


def test_pack_names_must_be_unique_across_packs(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="pack name 'mine' is also used"):
        rulepack.load_all([write(tmp_path, GOOD), write(tmp_path, GOOD)])


def test_no_packs_is_an_error() -> None:
    with pytest.raises(RulePackError, match="no rule pack given"):
        rulepack.load_all([])
