"""The ``subaudit`` command line: one module per command, wired by ``main``."""
