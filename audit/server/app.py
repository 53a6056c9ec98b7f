"""The FastAPI application of ``subaudit serve`` and the function that runs it.

Authentication: every ``/v1`` endpoint needs ``Authorization: Bearer TOKEN``. Open without
a token: ``GET /healthz`` (liveness for probes and load balancers; says nothing about the
data) and ``GET /openapi.json`` (the API's shape, which is public in this README anyway).
The interactive ``/docs`` page is off: it loads its scripts from a CDN, and the server may
have no network.

Errors are ``{"detail": "one line"}``: 400 a body that is not JSON, 401 no or wrong token,
403 a path outside the data roots, 404 no such job or run, 409 retrying a job that has not
failed, 413 an upload over the limit, 422 anything else the client can fix (unknown pack
or detector, bad parameter, missing input, missing column) (a report of a run in an
older ledger fails the same way).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

import audit
from audit.errors import UserError
from audit.server.auth import BearerAuth
from audit.server.config import ServerConfig, is_loopback
from audit.server.jobs import JobStore, Worker
from audit.server.models import Job, JobAccepted, Problem, ScanRequest
from audit.server.paths import OutsideRootsError
from audit.server.requests import prepare
from audit.server.runs import run_list, run_summary
from audit.server.uploads import BodyLimit, parse_options, store_upload

log = logging.getLogger("subaudit.server")
UPLOAD_PATH = "/v1/scans/upload"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 413, 422)
}


def create_app(config: ServerConfig, store: JobStore, worker: Worker | None = None) -> FastAPI:
    """Build the application around an open job store; the worker starts with the app."""
    worker = worker or Worker(store, config.ledger)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for job_id, status in store.recovered:
            log.warning("job %s was cut off by a previous shutdown: now %s", job_id, status)
        worker.start()
        yield
        worker.stop()
        # A scan cannot be interrupted from another thread; wait a while for it, then
        # leave it: the next start resolves the job from the ledger.
        await run_in_threadpool(worker.join, config.shutdown_grace_s)
        if worker.is_alive():
            log.warning("job %s still running at shutdown; it will be recovered", worker.current)
        else:
            store.close()

    app = FastAPI(
        title="subaudit",
        version=audit.__version__,
        description="Scan distillation data for hidden trait signals; every row's fate "
        "goes into a DuckDB ledger. Bearer-token auth on every /v1 endpoint.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    app.add_middleware(BodyLimit, limit=config.max_upload_bytes, paths=frozenset({UPLOAD_PATH}))
    _install_error_handlers(app)
    auth = [Depends(BearerAuth(config.token))]

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness: the server answers and its worker thread is alive (no token needed)."""
        return {"status": "ok", "version": audit.__version__, "worker": worker.is_alive()}

    @app.post("/v1/scans", status_code=202, dependencies=auth, tags=["scans"])
    def submit_scan(request: ScanRequest) -> JobAccepted:
        """Queue a scan of a file under a data root; poll the job for its run."""
        job_id = store.submit(prepare(request, config))
        worker.notify()
        return JobAccepted(job_id=job_id)

    @app.post(UPLOAD_PATH, status_code=202, dependencies=auth, tags=["scans"])
    async def submit_upload(
        file: Annotated[UploadFile, File(description="the dataset (JSONL, Parquet or CSV)")],
        request: Annotated[
            str | None,
            Form(
                description='scan options as JSON, e.g. {"rules": ["numbers"]}; '
                "'input' defaults to the file's name"
            ),
        ] = None,
    ) -> JobAccepted:
        """Queue a scan of an uploaded file (at most the server's upload limit)."""
        try:
            options = parse_options(request)
            options.setdefault("input", file.filename or "upload")
            scan_request = ScanRequest.model_validate(options)
        except (ValueError, ValidationError) as exc:
            raise HTTPException(422, f"request: {_one_line(exc)}") from None
        stored = await run_in_threadpool(store_upload, file.file, file.filename, config.uploads)
        try:
            job_request = await run_in_threadpool(prepare, scan_request, config, upload=stored)
        except BaseException:
            stored.unlink(missing_ok=True)
            raise
        job_id = store.submit(job_request)
        worker.notify()
        return JobAccepted(job_id=job_id)

    @app.get("/v1/jobs", dependencies=auth, tags=["jobs"])
    def list_jobs() -> list[dict[str, Any]]:
        """Every job, newest first."""
        return [_jsonable(row) for row in store.query("jobs")]

    @app.get("/v1/jobs/{job_id}", dependencies=auth, tags=["jobs"])
    def get_job(job_id: str) -> Job:
        """A job's status, and its run once one started."""
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    @app.post("/v1/jobs/{job_id}/retry", status_code=202, dependencies=auth, tags=["jobs"])
    def retry_job(job_id: str) -> JobAccepted:
        """Queue a failed job again (same id; the failed run stays in the ledger)."""
        if store.retry(job_id):
            worker.notify()
            return JobAccepted(job_id=job_id)
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        raise HTTPException(409, f"job {job_id} is {job.status}; only failed jobs can be retried")

    @app.get("/v1/runs", dependencies=auth, tags=["runs"])
    def list_runs() -> list[dict[str, Any]]:
        """Every run in the ledger (also those of `subaudit scan`), newest first."""
        return run_list(store)

    @app.get("/v1/runs/{run_id}", dependencies=auth, tags=["runs"])
    def get_run(run_id: str) -> dict[str, Any]:
        """The run's summary: the same object as `subaudit scan --json`."""
        summary = run_summary(store, run_id)
        if summary is None:
            raise HTTPException(404, f"no run {run_id}")
        return summary

    @app.get(
        "/v1/runs/{run_id}/report",
        dependencies=auth,
        tags=["runs"],
        response_class=HTMLResponse,
        responses={200: {"content": {"text/markdown": {}}}},
    )
    def get_report(run_id: str, format: Literal["html", "md"] = "html") -> Response:
        """The run's audit report, built from the ledger (HTML by default, or ``?format=md``)."""
        from audit.report import collect
        from audit.report_html import render_html
        from audit.report_md import render_markdown

        if run_summary(store, run_id) is None:
            raise HTTPException(404, f"no run {run_id}")
        with store.lock:
            data = collect(store.ledger, run_id)
        if format == "md":
            return Response(render_markdown(data), media_type="text/markdown; charset=utf-8")
        return HTMLResponse(render_html(data))

    @app.get("/v1/runs/{run_id}/gate", dependencies=auth, tags=["runs"])
    def get_gate(run_id: str) -> dict[str, Any]:
        """The run's latest recorded gate result (run ``subaudit gate`` to record one)."""
        if run_summary(store, run_id) is None:
            raise HTTPException(404, f"no run {run_id}")
        rows = store.query("gates", {"run_id": run_id})
        if not rows:
            raise HTTPException(404, f"run {run_id} has no gate result yet")
        latest = dict(rows[0])
        if isinstance(latest.get("results"), str):
            latest["results"] = json.loads(latest["results"])
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in latest.items()}

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        code = 403 if isinstance(exc, OutsideRootsError) else 422
        return JSONResponse({"detail": exc.one_line()}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "the request body is not valid JSON"}, status_code=400)
        return JSONResponse({"detail": _describe_errors(errors)}, status_code=422)


def _describe_errors(errors: Any) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return _describe_errors(exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def serve(config: ServerConfig) -> None:
    """Open the ledger, then serve until SIGINT/SIGTERM (one process: one ledger writer).

    Raises:
        LedgerError: the ledger is locked by another process (one line, exit 2).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not is_loopback(config.host):
        log.warning(
            "listening on %s: the token travels in clear text; put a TLS proxy in front",
            config.host,
        )
    store = JobStore(config.ledger)  # before binding: a locked ledger fails fast
    app = create_app(config, store)
    uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="info",
            # More than one worker process would mean more than one ledger writer.
            workers=1,
            timeout_graceful_shutdown=int(config.shutdown_grace_s),
        )
    ).run()
