"""The Great Expectations part of the gate (imported only when a gate runs: ~2.5 s).

Two validations, one per frame: the survivors (row-level expectations) and a one-row frame
of run figures (run-level expectations). By default the context is ephemeral (nothing
touches the disk); with ``docs`` it is a file context in that directory, the results are
stored there and Data Docs are built, one page per validation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.gate_plan import Outcome, Planned, Status
from audit.suites import SuiteError

_META_KEY = "subaudit_id"


@dataclass(frozen=True)
class GeRun:
    """Outcomes of the planned expectations, and where Data Docs went."""

    outcomes: list[Outcome]
    docs: str | None
    gx_version: str


@contextmanager
def _quiet() -> Iterator[None]:
    # GE logs and warns about things that are not the user's concern here (experimental
    # APIs, pandas dtype notes); the gate reports outcomes itself.
    logger = logging.getLogger("great_expectations")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def validate(
    frames: dict[str, tuple[Any, Sequence[Planned]]],
    *,
    suite_name: str,
    suite_path: str,
    run_id: str,
    docs: Path | None,
    max_row_ids: int,
) -> GeRun:
    """Validate each frame against its planned expectations.

    Args:
        frames: validation name (``rows``, ``run``) -> (pandas frame, expectations on it). The
            ``rows`` frame must have a ``row_id`` column (failing rows are reported by it).
        suite_name: The suite's name (GE suite names are ``subaudit.<name>.<validation>``).
        suite_path: The suite file, for error messages.
        run_id: The ledger run (recorded in the GE result's meta).
        docs: Directory of a GE file context with Data Docs, or None for an ephemeral one.
        max_row_ids: Cap on failing row ids kept per expectation.

    Returns:
        One outcome per planned expectation, in the order planned.

    Raises:
        SuiteError: An expectation type or its kwargs are not valid for Great Expectations.
    """
    with _quiet():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        if docs is None:
            context: Any = gx.get_context(mode="ephemeral")
        else:
            docs.mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=str(docs))
        # Progress bars go to stderr even when it is not a terminal; a gate in a pipeline
        # must print only its outcome.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)

        source_name = "subaudit"
        if docs is not None and source_name in [
            d.name for d in context.data_sources.all().values()
        ]:
            context.data_sources.delete(source_name)
        source = context.data_sources.add_pandas(source_name)

        outcomes: list[Outcome] = []
        for name, (frame, planned) in frames.items():
            if not planned:
                continue
            suite = gx.ExpectationSuite(name=f"subaudit.{suite_name}.{name}")
            for item in planned:
                try:
                    config = ExpectationConfiguration(
                        type=item.type, kwargs=item.kwargs, meta={_META_KEY: item.id}
                    )
                    suite.add_expectation(config.to_domain_obj())
                except Exception as exc:  # GE raises several types (pydantic, its own)
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise SuiteError(
                        f"expectation '{item.id}' ({item.type}): {first or type(exc).__name__}",
                        path=suite_path,
                    ) from None
            suite = context.suites.add_or_update(suite)
            asset = source.add_dataframe_asset(name)
            batch = asset.add_batch_definition_whole_dataframe(f"{name}-all")
            definition = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(
                    name=f"subaudit.{suite_name}.{name}", data=batch, suite=suite
                )
            )
            result_format: dict[str, Any] = {"result_format": "COMPLETE"}
            if "row_id" in frame.columns:
                result_format["unexpected_index_column_names"] = ["row_id"]
            result = definition.run(
                batch_parameters={"dataframe": frame}, result_format=result_format
            )
            result.meta["subaudit_run_id"] = run_id
            by_id = {r.expectation_config.meta.get(_META_KEY): r for r in result.results}
            for item in planned:
                outcomes.append(_outcome(item, by_id.get(item.id), max_row_ids))
        docs_index = None
        if docs is not None:
            context.build_data_docs()
            urls = context.get_docs_sites_urls()
            docs_index = str(urls[0]["site_url"]) if urls else None
        return GeRun(outcomes, docs_index, str(gx.__version__))


def _outcome(item: Planned, result: Any, max_row_ids: int) -> Outcome:
    if result is None:  # GE dropped it: should not happen, and must not read as a pass
        return Outcome(item.id, item.level, "error", item.type, item.kwargs, note="no result")
    info = result.exception_info or {}
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "").strip().splitlines()
        return Outcome(
            item.id,
            item.level,
            "error",
            item.type,
            item.kwargs,
            observed=item.observed,
            note=f"expectation raised: {message[0] if message else 'unknown error'}",
            description=item.description,
        )
    res: dict[str, Any] = dict(result.result or {})
    ids: list[str] = []
    for entry in res.get("unexpected_index_list") or []:
        if isinstance(entry, dict) and "row_id" in entry:
            ids.append(str(entry["row_id"]))
        if len(ids) >= max_row_ids:
            break
    status: Status = "passed" if result.success else "failed"
    observed = item.observed if item.level == "run" else res.get("observed_value")
    return Outcome(
        item.id,
        item.level,
        status,
        item.type,
        item.kwargs,
        observed=_plain(observed),
        element_count=_int(res.get("element_count")),
        unexpected_count=_int(res.get("unexpected_count")),
        failing_row_ids=ids,
        description=item.description,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _plain(value: Any) -> Any:
    """JSON-friendly: numpy scalars to Python, anything else odd to text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
