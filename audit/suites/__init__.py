"""Gate suites: what a dataset must satisfy before it may enter training.

A suite is a TOML file with a ``[suite]`` header and three kinds of entries, all optional:

``[[expect]]``
    A Great Expectations expectation on the run's survivors, read from the ledger (columns
    ``ordinal``, ``row_id``, ``prompt``, ``completion``, ``flagged_by``): ``type`` is the
    expectation's snake_case name (``expect_column_values_to_match_regex``) and
    ``[expect.kwargs]`` its arguments, exactly as Great Expectations 1.x takes them.
``[[recheck]]``
    Detectors applied again to the survivors: no drop rule may fire on a surviving row.
    ``source = "run"`` rebuilds the run's own drop rules from the ledger (kind + params as
    recorded); ``pack = "NAME|PATH"`` applies a rule pack's drop rules (banned numbers, trait
    lexicons the scan did not use); ``detector = "KIND"`` with ``[recheck.params]`` one
    detector. Each rule becomes one expectation whose failing rows are the survivors it fires on.
``[[gate]]``
    A run-level check on figures the ledger holds: ``check`` is one of :data:`RUN_CHECKS`.
    A check whose figure is absent for the run (no contrast classifier ran, no transfer check
    is linked) is skipped with a note, unless ``required = true``, which makes it fail.

Bundled suites live next to this module (``numbers``, ``strict``); :func:`load_suite` takes
a bundled name or a path. Parsing is pure TOML (fast, no Great Expectations import): the
expectation types and kwargs are checked by Great Expectations when the gate builds them.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import UserError

_DIR = Path(__file__).resolve().parent

RUN_CHECKS: dict[str, frozenset[str]] = {
    # check -> accepted keys besides id, check, description, required
    "survival_rate": frozenset({"min", "max"}),
    "quarantine_rate": frozenset({"max"}),
    "min_survivors": frozenset({"min"}),
    "contrast_auc": frozenset({"max", "statistic"}),
    "trait_gap": frozenset({"max"}),
    "transfer_verdict": frozenset({"allow"}),
}
"""Run-level checks and their parameters.

- ``survival_rate``: kept / rows read within ``[min, max]``.
- ``quarantine_rate``: quarantined / rows read at most ``max``.
- ``min_survivors``: at least ``min`` rows kept.
- ``contrast_auc``: every ``contrast_classifier`` detector of the run has a cross-validated
  AUC at most ``max`` (``statistic``: ``auc`` (default), ``ci_low`` or ``ci_high``, the ends
  of its bootstrap interval): the data cannot be told from the reference.
- ``trait_gap``: every ``trait_gap`` detector's mean-gap CI has its lower end at most
  ``max`` (default 0): the data is not shown to lean toward the trait.
- ``transfer_verdict``: the latest succeeded transfer check linked to the run has a verdict
  in ``allow`` (default: anything but ``leakage_persisted``).
"""

CONTRAST_STATISTICS = ("auc", "ci_low", "ci_high")
VERDICTS = ("leakage_persisted", "no_leakage_detected", "inconclusive")


class SuiteError(UserError):
    """A gate suite is malformed (names the file and the entry)."""


@dataclass(frozen=True)
class Expect:
    """One Great Expectations expectation on the survivors."""

    id: str
    type: str
    kwargs: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Recheck:
    """Detectors applied again to the survivors (exactly one source is set)."""

    id: str
    source: str | None = None
    """``"run"``: the run's own drop rules, rebuilt from the ledger."""
    pack: str | None = None
    """A bundled rule pack name or a TOML path: its drop rules."""
    detector: str | None = None
    """One detector kind, with :attr:`params`."""
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class RunGate:
    """One run-level check (see :data:`RUN_CHECKS`)."""

    id: str
    check: str
    params: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Suite:
    """A loaded, validated gate suite."""

    name: str
    version: str
    description: str
    path: Path
    sha256: str
    """SHA-256 of the file's bytes, recorded with every gate."""
    bundled: bool
    expects: tuple[Expect, ...]
    rechecks: tuple[Recheck, ...]
    gates: tuple[RunGate, ...]

    def record(self) -> dict[str, Any]:
        """What a gate records about its suite (JSON-serialisable)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "path": str(self.path),
            "bundled": self.bundled,
        }


def bundled_suites() -> dict[str, Path]:
    """Bundled suite name -> path."""
    return {p.stem: p for p in sorted(_DIR.glob("*.toml"))}


def load_suite(suite: str | Path) -> Suite:
    """Load a bundled suite by name or a suite file by path, and validate it as a whole.

    Args:
        suite: A bundled name (``numbers``, ``strict``) or a ``.toml`` path.

    Returns:
        The suite.

    Raises:
        SuiteError: Unknown name, unreadable file, bad TOML or a malformed entry.
    """
    bundled = bundled_suites()
    if isinstance(suite, str) and suite in bundled:
        path, is_bundled = bundled[suite], True
    else:
        path, is_bundled = Path(suite), False
        if not path.is_file():
            raise SuiteError(
                f"unknown suite '{suite}' (bundled: {', '.join(bundled)}; or give a .toml path)"
            )
    where = str(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite: {exc}", path=where) from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"invalid TOML: {exc}", path=where) from None
    _no_unknown(data, {"suite", "expect", "recheck", "gate"}, where, "top level")
    header = data.get("suite")
    if not isinstance(header, dict):
        raise SuiteError("missing [suite] table with name and version", path=where)
    _no_unknown(header, {"name", "version", "description"}, where, "[suite]")
    name = _str(header, "name", where, "[suite]")
    version = _str(header, "version", where, "[suite]")
    seen: set[str] = set()
    expects = tuple(
        _expect(e, i, where, seen) for i, e in enumerate(_entries(data, "expect", where))
    )
    rechecks = tuple(
        _recheck(e, i, where, seen) for i, e in enumerate(_entries(data, "recheck", where))
    )
    gates = tuple(_gate(e, i, where, seen) for i, e in enumerate(_entries(data, "gate", where)))
    if not (expects or rechecks or gates):
        raise SuiteError("the suite declares no [[expect]], [[recheck]] or [[gate]]", path=where)
    return Suite(
        name=name,
        version=version,
        description=str(header.get("description", "")).strip(),
        path=path.resolve(),
        sha256=hashlib.sha256(raw).hexdigest(),
        bundled=is_bundled,
        expects=expects,
        rechecks=rechecks,
        gates=gates,
    )


# ---------------------------------------------------------------------------------------
# entries


def _entries(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SuiteError(f"'{key}' must be an array of tables ([[{key}]])", path=where)
    return entries


def _entry_id(entry: dict[str, Any], default: str, where: str, ctx: str, seen: set[str]) -> str:
    ident = entry.get("id", default)
    if not isinstance(ident, str) or not ident:
        raise SuiteError(f"{ctx}: id must be a non-empty string", path=where)
    if ident in seen:
        raise SuiteError(f"{ctx}: duplicate id '{ident}'", path=where)
    seen.add(ident)
    return ident


def _expect(entry: dict[str, Any], index: int, where: str, seen: set[str]) -> Expect:
    ctx = f"[[expect]] #{index + 1}"
    _no_unknown(entry, {"id", "type", "kwargs", "description"}, where, ctx)
    etype = _str(entry, "type", where, ctx)
    if not etype.startswith("expect_"):
        raise SuiteError(
            f"{ctx}: type must be a Great Expectations expectation name "
            f"(expect_...), got {etype!r}",
            path=where,
        )
    kwargs = entry.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{ctx}: kwargs must be a table", path=where)
    column = kwargs.get("column")
    default = f"{etype}:{column}" if isinstance(column, str) else etype
    ident = _entry_id(entry, default, where, ctx, seen)
    return Expect(ident, etype, dict(kwargs), str(entry.get("description", "")))


def _recheck(entry: dict[str, Any], index: int, where: str, seen: set[str]) -> Recheck:
    ctx = f"[[recheck]] #{index + 1}"
    _no_unknown(entry, {"id", "source", "pack", "detector", "params", "description"}, where, ctx)
    given = [k for k in ("source", "pack", "detector") if k in entry]
    if len(given) != 1:
        raise SuiteError(f"{ctx}: set exactly one of source, pack, detector", path=where)
    (key,) = given
    value = _str(entry, key, where, ctx)
    if key == "source" and value != "run":
        raise SuiteError(f'{ctx}: source must be "run", got {value!r}', path=where)
    params = entry.get("params", {})
    if not isinstance(params, dict) or (params and key != "detector"):
        raise SuiteError(f"{ctx}: params (a table) go with detector only", path=where)
    ident = _entry_id(entry, f"recheck:{value}", where, ctx, seen)
    return Recheck(
        id=ident,
        source=value if key == "source" else None,
        pack=value if key == "pack" else None,
        detector=value if key == "detector" else None,
        params=dict(params),
        description=str(entry.get("description", "")),
    )


def _gate(entry: dict[str, Any], index: int, where: str, seen: set[str]) -> RunGate:
    ctx = f"[[gate]] #{index + 1}"
    check = _str(entry, "check", where, ctx)
    if check not in RUN_CHECKS:
        raise SuiteError(
            f"{ctx}: unknown check {check!r} (known: {', '.join(RUN_CHECKS)})", path=where
        )
    allowed = RUN_CHECKS[check]
    _no_unknown(entry, {"id", "check", "required", "description"} | allowed, where, ctx)
    params = {k: entry[k] for k in allowed if k in entry}
    for key in ("min", "max"):
        if key in params and (
            isinstance(params[key], bool) or not isinstance(params[key], int | float)
        ):
            raise SuiteError(f"{ctx}: {key} must be a number", path=where)
    if check == "contrast_auc" and params.get("statistic", "auc") not in CONTRAST_STATISTICS:
        raise SuiteError(
            f"{ctx}: statistic must be one of {', '.join(CONTRAST_STATISTICS)}", path=where
        )
    if check == "transfer_verdict":
        allow = params.get("allow", ["no_leakage_detected", "inconclusive"])
        if not isinstance(allow, list) or not allow or any(v not in VERDICTS for v in allow):
            raise SuiteError(
                f"{ctx}: allow must be a non-empty list of {', '.join(VERDICTS)}", path=where
            )
        params["allow"] = allow
    if check in ("survival_rate", "contrast_auc", "quarantine_rate") and not params.keys() & {
        "min",
        "max",
    }:
        raise SuiteError(f"{ctx}: {check} needs a bound (min and/or max)", path=where)
    if check == "min_survivors" and "min" not in params:
        raise SuiteError(f"{ctx}: min_survivors needs min", path=where)
    required = entry.get("required", False)
    if not isinstance(required, bool):
        raise SuiteError(f"{ctx}: required must be true or false", path=where)
    ident = _entry_id(entry, check, where, ctx, seen)
    return RunGate(ident, check, params, required, str(entry.get("description", "")))


def _str(table: dict[str, Any], key: str, where: str, ctx: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise SuiteError(f"{ctx}: '{key}' must be a non-empty string", path=where)
    return value


def _no_unknown(
    table: dict[str, Any], allowed: set[str] | frozenset[str], where: str, ctx: str
) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SuiteError(
            f"{ctx}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})",
            path=where,
        )
