"""The job queue of the scan service, kept in the ledger, and its single worker.

Why this shape:

- **The ledger is the queue.** A job is inserted (``queued``) before the client hears its
  id, so a restart keeps every accepted job. The worker claims the oldest queued job with
  one guarded ``UPDATE`` (``sql/statements/claim_job.sql``), so a job is started at most
  once per claim, and jobs are processed in submission order.
- **One writing process, two connections.** DuckDB lets one process write a database file;
  inside that process every connection to the file shares one database instance (checked
  with duckdb 2.0: concurrent transactions from two connections of one process both commit,
  a second process gets a lock error). So the server keeps its own connection (this
  module's :class:`JobStore`) for job bookkeeping and HTTP reads, while the worker thread
  runs :func:`audit.scan.scan` in-process, which opens a second connection for the run.
  Bookkeeping touches only ``jobs``, the scan only the run tables, so their transactions
  never conflict, and HTTP handlers never wait for a scan.
- **One scan at a time.** A single worker thread: scans are CPU- and memory-heavy (the
  ledger's memory limit is per database), and one writer keeps the run order simple.
- **Crash recovery.** On start, runs still ``running`` were failed by the ledger (its
  abandoned-run check) and jobs still ``running`` are resolved by ``recover_jobs.sql``:
  succeeded if their run committed before the crash, else failed and retryable.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from audit.errors import UserError
from audit.ledger import Ledger
from audit.server.models import Job

log = logging.getLogger("subaudit.server")


class Claimed(NamedTuple):
    """A job the worker took off the queue."""

    job_id: str
    request: dict[str, Any]
    attempt: int


def new_job_id() -> str:
    """Unguessable and URL-safe: ``job-`` and 16 hex digits."""
    return f"job-{secrets.token_hex(8)}"


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


class JobStore:
    """Job bookkeeping and read queries over the server's own ledger connection.

    DuckDB connections are not safe to share between threads, and HTTP handlers run in a
    thread pool, so every use of the connection holds :attr:`lock` (the statements are
    small; a scan never holds it).
    """

    def __init__(self, ledger: Path) -> None:
        """Open the ledger for writing (applies migrations) and recover cut-off jobs."""
        self.ledger = Ledger(ledger)
        self.lock = threading.Lock()
        self.recovered: list[tuple[str, str]] = [
            (str(job_id), str(status)) for job_id, status in self.ledger.execute("recover_jobs")
        ]

    def close(self) -> None:
        """Close the connection (checkpoints when it is the last one)."""
        with self.lock:
            self.ledger.close()

    def submit(self, request: dict[str, Any]) -> str:
        """Record a queued job and return its id."""
        job_id = new_job_id()
        with self.lock:
            self.ledger.execute("insert_job", job_id=job_id, request=request)
        return job_id

    def get(self, job_id: str) -> Job | None:
        """A job's state, or None when there is no such job."""
        with self.lock:
            rows = self.ledger.execute("select_job", job_id=job_id)
        if not rows:
            return None
        job_id, status, run_id, error, attempts, request, created, started, finished = rows[0]
        return Job(
            job_id=job_id,
            status=status,
            run_id=run_id,
            error=error,
            attempts=attempts,
            request=json.loads(request),
            created_at=_iso(created),
            started_at=_iso(started),
            finished_at=_iso(finished),
        )

    def claim(self) -> Claimed | None:
        """Take the oldest queued job (``running``), or None when the queue is empty."""
        with self.lock:
            rows = self.ledger.execute(
                "claim_job", worker_host=socket.gethostname(), worker_pid=os.getpid()
            )
        if not rows:
            return None
        job_id, request, attempts = rows[0]
        return Claimed(job_id=job_id, request=json.loads(request), attempt=attempts)

    def finish(self, job_id: str, *, run_id: str | None, error: str | None) -> None:
        """End a running job: succeeded without ``error``, failed with it."""
        with self.lock:
            if run_id is None:
                linked = self.ledger.execute("job_run", job_id=job_id)
                run_id = linked[0][0] if linked else None
            self.ledger.execute(
                "finish_job",
                job_id=job_id,
                status="failed" if error is not None else "succeeded",
                run_id=run_id,
                error=error,
            )

    def retry(self, job_id: str) -> bool:
        """Re-queue a failed job; False when it is not failed."""
        with self.lock:
            return bool(self.ledger.execute("retry_job", job_id=job_id))

    def query(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A named query from ``sql/queries/`` as dicts."""
        with self.lock:
            return self.ledger.query(name, params).to_dicts()


ScanFn = Callable[..., Any]


class Worker(threading.Thread):
    """Runs queued jobs one at a time until :meth:`stop`."""

    def __init__(self, store: JobStore, ledger: Path, scan: ScanFn | None = None) -> None:
        super().__init__(name="subaudit-worker", daemon=True)
        self.store = store
        self.ledger = ledger
        self._scan = scan
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.current: str | None = None

    def notify(self) -> None:
        """A job was queued: wake up now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current job (if any) and stop taking new ones."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        """Claim, scan, record; sleep when the queue is empty."""
        from audit.scan import scan as default_scan

        scan = self._scan or default_scan
        while not self._stopping.is_set():
            try:
                job = self.store.claim()
            except Exception:  # the ledger itself failed: log, back off, try again
                log.exception("cannot claim a job")
                self._stopping.wait(5.0)
                continue
            if job is None:
                # The timeout is a safety net; submissions wake the worker at once.
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self.current = job.job_id
            self._run_one(job, scan)
            self.current = None

    def _run_one(self, job: Claimed, scan: ScanFn) -> None:
        log.info("job %s: scanning (attempt %d)", job.job_id, job.attempt)
        try:
            result = scan(**scan_arguments(job.request), ledger=self.ledger, progress=False)
        except UserError as exc:
            self._finish(job, None, exc.one_line())
        except Exception as exc:  # a bug in a detector or in subaudit; keep the traceback
            log.exception("job %s failed", job.job_id)
            self._finish(job, None, f"{type(exc).__name__}: {exc}".splitlines()[0])
        else:
            self._finish(job, str(result.run_id), None)
            upload = job.request.get("upload")
            if upload:  # kept until success, so that a failed upload job can be retried
                Path(upload).unlink(missing_ok=True)

    def _finish(self, job: Claimed, run_id: str | None, error: str | None) -> None:
        log.info("job %s: %s", job.job_id, "failed: " + error if error else "succeeded")
        try:
            self.store.finish(job.job_id, run_id=run_id, error=error)
        except Exception:  # recovery at the next start resolves the job from its run
            log.exception("cannot record the end of job %s", job.job_id)


def scan_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`audit.scan.scan` for a stored request."""
    return {
        "input": request["input"],
        "rules": request.get("rules", []),
        "detectors": request.get("detectors", []),
        "reference": request.get("reference"),
        "out": request.get("out"),
        "rejected": request.get("rejected"),
        "prompt_column": request.get("prompt_column", "prompt"),
        "completion_column": request.get("completion_column", "completion"),
        "id_column": request.get("id_column"),
        "input_format": request.get("format"),
        "batch_rows": request.get("batch_rows", 100_000),
    }
