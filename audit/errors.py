"""Errors the user can fix, kept apart from our own bugs.

Every :class:`UserError` renders as a single line that names where the problem is
(``file:line: field: problem``); the CLI prints it and exits 2, never a traceback.
Anything else that escapes is a bug in subaudit and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, configuration or environment (exit code 2)."""

    exit_code = 2

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Render as ``path:line: field: problem`` with absent parts left out."""
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        # Newlines in user data must not break the one-line contract.
        problem = self.problem.replace("\n", "\\n")
        return ": ".join([*parts, problem])


class InputError(UserError):
    """The input dataset cannot be read as a whole (missing, empty, unreadable, wrong schema)."""


class RulePackError(UserError):
    """A rule pack is malformed: unknown detector, bad parameter, duplicate rule id."""


class DetectorConfigError(UserError):
    """A detector was given parameters it cannot work with.

    Raised by detector constructors; the rule-pack loader re-raises it as a
    :class:`RulePackError` naming the pack file and rule id.
    """


class LedgerError(UserError):
    """The ledger cannot be opened or queried (locked by another process, bad query)."""
