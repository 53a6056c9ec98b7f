"""Check a scan request completely before it is queued.

Everything that can be known without scanning is checked here, in the HTTP handler, so
the client gets a 4xx at once instead of a failed job later: paths inside the data roots,
packs and detectors that load (with their parameters), the input's format and columns, the
detectors' requirements and the output suffixes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit import rulepack
from audit.errors import RulePackError, UserError
from audit.ingest import InputSpec, read_dataset
from audit.outputs import output_format
from audit.server.config import ServerConfig
from audit.server.models import ScanRequest
from audit.server.paths import inside_roots, is_path_like


def prepare(
    request: ScanRequest, config: ServerConfig, *, upload: Path | None = None
) -> dict[str, Any]:
    """Validate ``request`` and return what the job stores (absolute, resolved paths).

    Args:
        request: the client's request.
        config: the server's settings (data roots).
        upload: the uploaded file standing in for ``request.input`` (already on disk).

    Raises:
        OutsideRootsError: a path resolves outside every data root.
        UserError: anything else the client can fix (unknown pack, missing file, ...).
    """
    roots = config.data_roots
    if not request.rules and not request.detectors:
        raise UserError("give at least one pack in 'rules' or one entry in 'detectors'")
    packs = [_pack(name, roots) for name in request.rules]
    loaded = rulepack.load_all(packs) if packs else []
    cli = rulepack.from_cli(request.detectors)
    all_rules = [r for p in [*loaded, *([cli] if cli else [])] for r in p.rules]
    reference = (
        inside_roots(request.reference, roots, field="reference")
        if request.reference is not None
        else None
    )
    from audit.scan import _check_requirements  # the scan's own check, same wording

    _check_requirements(all_rules, reference)
    source = upload if upload is not None else inside_roots(request.input, roots, field="input")
    spec = InputSpec(
        path=source,
        format=request.format,
        prompt_column=request.prompt_column,
        completion_column=request.completion_column,
        id_column=request.id_column,
    )
    read_dataset(spec)  # file-level checks: exists, not empty, format, columns
    if reference is not None:
        read_dataset(InputSpec(path=reference, format=request.format))
    outputs: dict[str, str | None] = {}
    for name in ("out", "rejected"):
        value = getattr(request, name)
        if value is None:
            outputs[name] = None
            continue
        target = inside_roots(value, roots, field=name)
        output_format(target, name)
        if not target.parent.is_dir():
            raise UserError("output directory does not exist", path=value, field=name)
        outputs[name] = str(target)
    return {
        "input": str(source),
        "rules": packs,
        "detectors": list(request.detectors),
        "reference": None if reference is None else str(reference),
        "out": outputs["out"],
        "rejected": outputs["rejected"],
        "prompt_column": request.prompt_column,
        "completion_column": request.completion_column,
        "id_column": request.id_column,
        "format": request.format,
        "batch_rows": request.batch_rows,
        "upload": None if upload is None else str(upload),
        "upload_name": None if upload is None else request.input,
    }


def _pack(name: str, roots: tuple[Path, ...]) -> str:
    """A bundled pack name as is; a TOML path only under a data root.

    A bare name that is not bundled is refused even if such a file exists in the server's
    working directory: clients must not reach files outside the roots by any route.
    """
    if is_path_like(name):
        return str(inside_roots(name, roots, field="rules"))
    if name not in rulepack.bundled_packs():
        raise RulePackError(
            f"unknown rule pack '{name}' (bundled: {', '.join(rulepack.bundled_packs())}; "
            "or a .toml path under a data root)",
            field="rules",
        )
    return name
