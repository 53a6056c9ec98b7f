"""subaudit: audit distillation data for hidden trait signals.

The public Python API mirrors the CLI. Heavy modules are imported lazily so that
``import audit`` (and ``subaudit --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "gate", "report", "scan", "transfer_check"]

if TYPE_CHECKING:
    from audit.gate import gate
    from audit.report import render_report as report
    from audit.scan import scan
    from audit.transfer import transfer_check

# Public name -> (module, attribute); imported on first use.
_LAZY = {
    "scan": ("audit.scan", "scan"),
    "gate": ("audit.gate", "gate"),
    "report": ("audit.report", "render_report"),
    "transfer_check": ("audit.transfer", "transfer_check"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
