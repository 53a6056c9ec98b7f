"""Rule packs: TOML files that configure detectors into rules.

A pack is a ``[pack]`` header (name, version, description) and ``[[rule]]`` entries::

    [pack]
    name = "numbers"
    version = "1.0.0"
    description = "The paper's number-format filter."

    [[rule]]
    id = "format"              # unique within the pack, snake_case
    detector = "number_format" # a registered detector kind
    action = "drop"            # drop | flag
    description = "optional"
    [rule.params]              # keyword arguments of the detector's constructor
    max_count = 10

A pack is validated as a whole when it is loaded: every error names the file and the rule
id, and every detector is built (so bad parameters fail before any row is read). The run
records the resolved pack and the sha256 of its bytes.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import DetectorConfigError, RulePackError
from audit.resources import rules_dir
from detectors import base

ACTIONS = ("drop", "flag")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PACK_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_PACK_KEYS = {"name", "version", "description"}
_RULE_KEYS = {"id", "detector", "action", "description", "params"}


@dataclass(frozen=True)
class Rule:
    """One configured detector of a pack."""

    pack: str
    id: str
    kind: str
    action: str
    params: dict[str, Any]
    description: str
    detector: base.Detector = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        """The rule's name in the ledger: ``pack/rule_id``."""
        return f"{self.pack}/{self.id}"


@dataclass(frozen=True)
class RulePack:
    """A loaded, validated rule pack."""

    name: str
    version: str
    description: str
    path: Path
    sha256: str
    rules: tuple[Rule, ...]
    bundled: bool

    def record(self) -> dict[str, Any]:
        """What a run records about the pack (JSON-serialisable)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "path": str(self.path),
            "bundled": self.bundled,
            "rules": [
                {"id": r.id, "detector": r.kind, "action": r.action, "params": r.params}
                for r in self.rules
            ],
        }


def bundled_packs() -> dict[str, Path]:
    """Bundled pack name -> path."""
    return {p.stem: p for p in sorted(rules_dir().glob("*.toml"))}


def resolve(pack: str) -> tuple[Path, bool]:
    """Map a bundled pack's name or a TOML path to a file; the flag says bundled."""
    bundled = bundled_packs()
    if pack in bundled:
        return bundled[pack], True
    path = Path(pack)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise RulePackError("no such rule pack file", path=str(path))
        return path, False
    raise RulePackError(
        f"unknown rule pack '{pack}' (bundled: {', '.join(bundled)}; or give a .toml path)"
    )


def load(pack: str) -> RulePack:
    """Load and validate one pack, building every rule's detector.

    Raises:
        RulePackError: the file is missing, not TOML, or any rule is invalid; the message
            names the file (and the rule id where there is one).
    """
    path, is_bundled = resolve(pack)
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RulePackError(f"cannot read rule pack: {exc.strerror}", path=where) from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RulePackError("not valid UTF-8", path=where) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in the message; keep it on one line.
        raise RulePackError(f"invalid TOML: {exc}", path=where) from None

    header = doc.get("pack")
    if not isinstance(header, dict):
        raise RulePackError("missing [pack] table (name, version, description)", path=where)
    _no_unknown_keys(header, _PACK_KEYS, where, "[pack]")
    name = _string(header, "name", where, "[pack]")
    if not _PACK_NAME.match(name):
        raise RulePackError(f"[pack]: name {name!r} must be lowercase kebab/snake case", path=where)
    version = _string(header, "version", where, "[pack]")
    description = str(header.get("description", ""))
    extra = set(doc) - {"pack", "rule", "detector"}
    if extra:
        raise RulePackError(f"unknown top-level table(s): {', '.join(sorted(extra))}", path=where)

    # [[detector]] entries (learned and model-based detectors) are rules like any other;
    # the separate table name only reads better in a pack.
    raw_rules = doc.get("rule", [])
    raw_detectors = doc.get("detector", [])
    if not isinstance(raw_rules, list) or not isinstance(raw_detectors, list):
        raise RulePackError("[[rule]] and [[detector]] must be arrays of tables", path=where)
    raw_rules = raw_rules + raw_detectors
    if not raw_rules:
        raise RulePackError("a pack needs at least one [[rule]] or [[detector]]", path=where)
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules, start=1):
        rules.append(_load_rule(raw, index, name, where, seen))
    return RulePack(
        name=name,
        version=version,
        description=description,
        path=path.resolve(),
        sha256=hashlib.sha256(data).hexdigest(),
        rules=tuple(rules),
        bundled=is_bundled,
    )


def load_all(packs: Sequence[str]) -> list[RulePack]:
    """Load several packs; rule names (``pack/rule``) must be unique across them."""
    if not packs:
        raise RulePackError("no rule pack given (use --rules NAME or --rules PATH.toml)")
    loaded = [load(p) for p in packs]
    names: dict[str, Path] = {}
    for pack in loaded:
        if pack.name in names:
            raise RulePackError(
                f"pack name '{pack.name}' is also used by {names[pack.name]}", path=str(pack.path)
            )
        names[pack.name] = pack.path
    return loaded


CLI_PACK = "cli"


def from_cli(specs: Sequence[str]) -> RulePack | None:
    """Build a pack from ``--detector NAME[:key=value,...]`` options.

    Values are read as TOML values (``k=5``, ``target_fpr=0.01``, ``traits=["owl"]``),
    falling back to plain strings; the special key ``action`` sets drop (default) or flag.
    Commas inside brackets or quotes do not split. Each detector becomes the rule
    ``cli/NAME`` (``cli/NAME_2`` for a second use of the same kind).
    """
    if not specs:
        return None
    rules: list[Rule] = []
    seen: set[str] = set()
    for spec in specs:
        kind, _, arg_text = spec.partition(":")
        params: dict[str, Any] = {}
        for item in _split_args(arg_text):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise RulePackError(
                    f"expected NAME[:key=value,...], got {spec!r}", field="--detector"
                )
            params[key.strip()] = _toml_value(value.strip())
        action = params.pop("action", "drop")
        rule_id = kind.strip()
        n = 2
        while rule_id in seen:
            rule_id, n = f"{kind.strip()}_{n}", n + 1
        raw = {"id": rule_id, "detector": kind.strip(), "action": action, "params": params}
        rules.append(_load_rule(raw, len(rules) + 1, CLI_PACK, "--detector", seen))
    text = "\n".join(specs).encode()
    return RulePack(
        name=CLI_PACK,
        version="0",
        description="detectors given on the command line",
        path=Path("--detector"),
        sha256=hashlib.sha256(text).hexdigest(),
        rules=tuple(rules),
        bundled=False,
    )


def _split_args(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if current:
        parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ---------------------------------------------------------------------------------------


def _load_rule(raw: object, index: int, pack: str, where: str, seen: set[str]) -> Rule:
    if not isinstance(raw, dict):
        raise RulePackError(f"[[rule]] #{index} is not a table", path=where)
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RulePackError(
            f"[[rule]] #{index}: 'id' must be a snake_case string, got {rule_id!r}", path=where
        )
    ctx = f"rule '{rule_id}'"
    if rule_id in seen:
        raise RulePackError(f"{ctx}: duplicate rule id", path=where)
    seen.add(rule_id)
    _no_unknown_keys(raw, _RULE_KEYS, where, ctx)
    kind = _string(raw, "detector", where, ctx)
    action = raw.get("action", "drop")
    if action not in ACTIONS:
        raise RulePackError(f"{ctx}: action must be one of {ACTIONS}, got {action!r}", path=where)
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise RulePackError(f"{ctx}: params must be a table", path=where)
    try:
        detector = base.get(kind).from_params(params)
    except DetectorConfigError as exc:
        raise RulePackError(f"{ctx}: {exc.problem}", path=where) from None
    return Rule(
        pack=pack,
        id=rule_id,
        kind=kind,
        action=str(action),
        params=dict(params),
        description=str(raw.get("description", "")),
        detector=detector,
    )


def _string(table: dict[str, Any], key: str, where: str, ctx: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise RulePackError(f"{ctx}: '{key}' must be a non-empty string", path=where)
    return value


def _no_unknown_keys(table: dict[str, Any], allowed: set[str], where: str, ctx: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise RulePackError(
            f"{ctx}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})",
            path=where,
        )
