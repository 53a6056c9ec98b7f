"""Executors of a scan's batch loop: ``local`` (in :mod:`audit.scan`) and ``ray``."""
