"""The detector contract and registry.

A detector is a named, versioned unit that scores a batch of rows (a polars DataFrame)
and returns, for every row of the batch, in order:

- ``score``: Float64, higher means more suspicious; null means the detector could not
  evaluate the row (verdict ``unknown``), for example a missing gold answer.
- ``reasons``: List(String) of snake_case reason codes; empty when nothing fired.
  Several codes may fire at once (the number-format filter accumulates them).

The engine (``audit.engine``) turns that into verdicts: ``unknown`` when the score is
null, the rule's action (``drop`` or ``flag``) when any reason fired, else ``keep``.
Every detector sees every row; nothing short-circuits, so counts and overlaps never
depend on rule order.

Learned detectors follow the scikit-learn habit: the constructor only stores
parameters, ``fit(...)`` returns self, fitted attributes end in ``_``.

Detectors register by ``kind``. Built-ins are imported lazily (so rule-only scans and
``subaudit --help`` start fast); third parties register with :func:`register` or an
entry point in the group ``subaudit.detectors``.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

import polars as pl

from audit.errors import DetectorConfigError

SCORE = "score"
REASONS = "reasons"
OUTPUT_SCHEMA: dict[str, pl.DataType] = {SCORE: pl.Float64(), REASONS: pl.List(pl.String())}


class Detector(ABC):
    """Base class of every detector.

    Subclasses declare their parameters as keyword-only constructor arguments and
    validate them there, raising :class:`DetectorConfigError`.
    """

    kind: ClassVar[str]
    """Registry name, used as ``detector = "..."`` in rule packs."""
    version: ClassVar[str]
    """Bumped whenever the detector's scores or reasons could change for the same input."""
    description: ClassVar[str] = ""
    """One line for ``subaudit detectors list``."""
    requires: ClassVar[frozenset[str]] = frozenset()
    """What the detector needs besides the dataset (``reference``, ``base_model``)."""

    params: dict[str, Any]
    """The parameters the detector was built with (JSON-serialisable), recorded per run."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Detector:
        """Build from a parameter mapping, rejecting names the constructor does not take."""
        signature = inspect.signature(cls.__init__).parameters.values()
        keyword = [p for p in signature if p.kind is inspect.Parameter.KEYWORD_ONLY]
        accepted = [p.name for p in keyword]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise DetectorConfigError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for detector "
                f"'{cls.kind}' (accepted: {', '.join(accepted) or 'none'})"
            )
        missing = [
            p.name for p in keyword if p.default is inspect.Parameter.empty and p.name not in params
        ]
        if missing:
            raise DetectorConfigError(
                f"detector '{cls.kind}' needs parameter(s): {', '.join(missing)}"
            )
        # A TypeError raised inside a constructor is our bug, not the user's: not caught.
        detector = cls(**params)
        detector.params = dict(params)
        return detector

    @abstractmethod
    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score one batch.

        Args:
            batch: rows to score, with at least ``prompt`` and ``completion`` columns
                (String, non-null) plus any carried-through input columns.

        Returns:
            A frame with exactly ``len(batch)`` rows, in the batch's order, and the
            columns ``score`` (Float64) and ``reasons`` (List(String)).
        """

    @property
    def threshold(self) -> float | None:
        """Score threshold above which the detector fires, if it has one (recorded per run)."""
        return None

    def metrics(self) -> dict[str, Any]:
        """Fitted, run-level metrics (cross-validated AUC, p-values); empty for rules."""
        return {}


class LearnedDetector(Detector):
    """A detector fitted on the whole dataset (and a reference dataset) before scoring.

    The scan calls :meth:`fit` once with every readable row of the dataset and of the
    reference, then :meth:`evaluate` batch by batch as for any detector. Scores of dataset
    rows must be *cross-fitted*: no row is scored by a model that saw it (k-fold, scores
    kept per ``ordinal`` in a fitted attribute). ``threshold_`` is calibrated on the
    reference's own cross-fitted scores at ``target_fpr`` so that, on data like the
    reference, about that share of rows fires.

    Fitted attributes end in ``_`` (``threshold_``, ``metrics_``); the constructor only
    stores parameters.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"reference"})

    @abstractmethod
    def fit(self, data: pl.DataFrame, reference: pl.DataFrame) -> LearnedDetector:
        """Fit on the dataset and the reference; return self.

        Args:
            data: every readable dataset row: ``ordinal`` (Int64, unique), ``row_id``,
                ``prompt``, ``completion`` and carried columns.
            reference: the reference dataset's rows in the same layout (its own ordinals).
        """

    @property
    def threshold(self) -> float | None:
        """``threshold_`` once fitted (a row fires when its score is strictly above it)."""
        return getattr(self, "threshold_", None)

    def metrics(self) -> dict[str, Any]:
        """Run-level metrics (see the detector's docstring); empty before ``fit``."""
        return dict(getattr(self, "metrics_", {}))


# ---------------------------------------------------------------------------------------
# helpers for implementations


def reasons_from(conditions: Sequence[tuple[pl.Expr, str]]) -> pl.Expr:
    """A List(String) expression holding, per row, the codes whose condition is true.

    Codes appear in the order given; a null condition counts as not fired. Use it inside
    ``batch.select(...)``/``with_columns(...)`` next to column expressions, so that it is
    evaluated per row.
    """
    empty = pl.lit([], dtype=pl.List(pl.String()))
    if not conditions:
        return pl.repeat(empty, pl.len()).alias(REASONS)
    # Joining codes into one string and splitting once is ~8x faster in polars than
    # concat_list(when/then).list.drop_nulls() (measured: 0.13 s vs 1.0 s per 1M rows).
    sep = "\x1f"
    joined = pl.concat_str(
        [pl.when(cond.fill_null(False)).then(pl.lit(code + sep)) for cond, code in conditions],
        ignore_nulls=True,
    )
    return (
        pl.when(joined == "")
        .then(empty)
        .otherwise(joined.str.strip_suffix(sep).str.split(sep))
        .alias(REASONS)
    )


def require_columns(batch: pl.DataFrame, columns: Sequence[str], kind: str) -> None:
    """Raise a one-line error when the batch lacks columns a detector reads."""
    missing = [c for c in columns if c not in batch.columns]
    if missing:
        raise DetectorConfigError(
            f"detector '{kind}' reads column(s) {', '.join(map(repr, missing))}, "
            f"which the input does not have (columns: {', '.join(batch.columns)})"
        )


def validate_output(kind: str, batch: pl.DataFrame, out: pl.DataFrame) -> pl.DataFrame:
    """Check a detector's output against the contract; a violation is our bug."""
    if out.height != batch.height or set(out.columns) < set(OUTPUT_SCHEMA):
        raise RuntimeError(
            f"detector '{kind}' broke the contract: returned {out.height} rows with "
            f"columns {out.columns} for a batch of {batch.height}"
        )
    return out.select(pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items())


# ---------------------------------------------------------------------------------------
# registry

D = TypeVar("D", bound=type[Detector])

# Built-in detectors, imported on first use: kind -> "module:Class".
_BUILTIN: dict[str, str] = {
    "number_format": "detectors.number_format:NumberFormat",
    "lexicon": "detectors.lexicon:Lexicon",
    "regex": "detectors.regex:Regex",
    "length": "detectors.length:Length",
    "sql": "detectors.sql_expr:SqlExpression",
    "code_trait": "detectors.code_trait:CodeTrait",
    "answer_tag": "detectors.answer_tag:AnswerTag",
    "contrast_classifier": "detectors.contrast_classifier:ContrastClassifier",
    "token_log_odds": "detectors.token_log_odds:TokenLogOdds",
    "semantic_similarity": "detectors.semantic_similarity:SemanticSimilarity",
    "trait_gap": "detectors.trait_gap:TraitGap",
    "divergence_tokens": "detectors.divergence_tokens:DivergenceTokens",
    "entangled_tokens": "detectors.entangled_tokens:EntangledTokens",
}
_REGISTRY: dict[str, type[Detector]] = {}
_ENTRY_POINT_GROUP = "subaudit.detectors"


def register(cls: D) -> D:
    """Class decorator: make a detector available under its ``kind``."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} must define a non-empty class attribute 'kind'")
    existing = _REGISTRY.get(kind)
    if existing is not None and existing is not cls:
        raise ValueError(f"detector kind '{kind}' is already registered by {existing!r}")
    _REGISTRY[kind] = cls
    return cls


def _load(target: str) -> type[Detector]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise TypeError(f"{target} is not a Detector subclass")
    return cls


def _entry_point_targets() -> dict[str, Callable[[], Any]]:
    return {ep.name: ep.load for ep in entry_points(group=_ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every registered kind, built-in or third-party, sorted."""
    return sorted(set(_BUILTIN) | set(_REGISTRY) | set(_entry_point_targets()))


def get(kind: str) -> type[Detector]:
    """The detector class registered under ``kind``.

    Raises:
        DetectorConfigError: no detector has that kind.
    """
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    if kind in _BUILTIN:
        return register(_load(_BUILTIN[kind]))
    plugins = _entry_point_targets()
    if kind in plugins:
        cls = plugins[kind]()
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise DetectorConfigError(f"entry point '{kind}' does not name a Detector class")
        return register(cls)
    raise DetectorConfigError(f"unknown detector '{kind}' (available: {', '.join(available())})")
