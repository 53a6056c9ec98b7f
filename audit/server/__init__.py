"""``subaudit serve``: the scan service (FastAPI on uvicorn) over one ledger.

Modules: :mod:`~audit.server.config` (settings, token, loopback check),
:mod:`~audit.server.paths` (data roots), :mod:`~audit.server.jobs` (ledger-backed job
queue and its single worker), :mod:`~audit.server.runs` (run summaries from the ledger),
:mod:`~audit.server.auth`, :mod:`~audit.server.uploads`, :mod:`~audit.server.models`
(request and response bodies) and :mod:`~audit.server.app` (the app factory and ``serve``).
FastAPI and uvicorn are the optional extra ``subaudit[serve]``; nothing here is imported by
the rest of subaudit.
"""
