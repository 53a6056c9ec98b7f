"""subaudit: audit distillation data for hidden trait signals.

The public Python API mirrors the CLI. Heavy modules are imported lazily so that
``import audit`` (and ``subaudit --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "scan"]

if TYPE_CHECKING:
    from audit.scan import scan


def __getattr__(name: str) -> Any:
    if name == "scan":
        from audit.scan import scan

        return scan
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
