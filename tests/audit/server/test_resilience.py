"""The server under load and under kill -9: no job lost, none run twice, no ledger data lost."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from audit.ledger import Ledger
from tests.audit.server.conftest import Server, write_sample

pytestmark = pytest.mark.slow


def test_load_200_jobs_8_clients(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    write_sample(root / "tiny.jsonl", 5)
    server = Server(root=root, ledger=tmp_path / "audit.duckdb").start()
    n_jobs, n_clients = 200, 8
    try:

        def submit_and_wait(i: int) -> tuple[str, dict[str, object]]:
            with server.client() as client:
                answer = client.post(
                    "/v1/scans", json={"input": "tiny.jsonl", "rules": ["numbers"]}
                )
                assert answer.status_code == 202, answer.text
                job_id = answer.json()["job_id"]
                return job_id, server.wait_job(client, job_id, timeout=120)

        started = time.monotonic()
        with ThreadPoolExecutor(n_clients) as pool:
            results = list(pool.map(submit_and_wait, range(n_jobs)))
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    job_ids = [job_id for job_id, _ in results]
    assert len(set(job_ids)) == n_jobs
    assert all(job["status"] == "succeeded" and job["attempts"] == 1 for _, job in results)
    run_ids = [job["run_id"] for _, job in results]
    assert len(set(run_ids)) == n_jobs  # one run per job, no run shared or repeated
    with Ledger(tmp_path / "audit.duckdb", read_only=True) as led:
        runs = led.query("SELECT run_id, status, rows_in FROM runs").to_dicts()
        jobs = led.query("jobs").to_dicts()
    assert len(runs) == n_jobs and {r["run_id"] for r in runs} == set(run_ids)
    assert all(r["status"] == "succeeded" and r["rows_in"] == 5 for r in runs)
    assert len(jobs) == n_jobs and all(j["attempts"] == 1 for j in jobs)
    print(f"{n_jobs} jobs, {n_clients} clients: {elapsed:.1f} s ({n_jobs / elapsed:.1f} jobs/s)")


def test_kill_9_mid_job_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    write_sample(root / "small.jsonl", 20)
    write_sample(root / "big.jsonl", 60_000, seed=1)
    ledger = tmp_path / "audit.duckdb"
    server = Server(root=root, ledger=ledger).start()
    small = {"input": "small.jsonl", "rules": ["numbers"]}
    # Small batches: the big scan commits many batches, so the kill lands mid-run.
    big = {"input": "big.jsonl", "rules": ["numbers", "animals"], "batch_rows": 500}
    try:
        with server.client() as client:
            done = server.wait_job(client, client.post("/v1/scans", json=small).json()["job_id"])
            before = client.get(f"/v1/runs/{done['run_id']}").json()
            cut = client.post("/v1/scans", json=big).json()["job_id"]
            queued = [client.post("/v1/scans", json=small).json()["job_id"] for _ in range(3)]
            deadline = time.monotonic() + 60
            while client.get(f"/v1/jobs/{cut}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            time.sleep(0.5)  # some batches committed, the run not finished
            assert client.get(f"/v1/jobs/{cut}").json()["status"] == "running"
    finally:
        server.stop(signal.SIGKILL)

    server.start()  # same ledger, fresh process
    try:
        with server.client() as client:
            assert client.get(f"/v1/runs/{done['run_id']}").json() == before
            interrupted = client.get(f"/v1/jobs/{cut}").json()
            assert interrupted["status"] == "failed"
            assert "interrupted" in interrupted["error"]
            assert client.get(f"/v1/runs/{interrupted['run_id']}").json()["status"] == "failed"
            for job_id in queued:  # still queued after the crash, then processed
                assert server.wait_job(client, job_id)["status"] == "succeeded"
            assert client.post(f"/v1/jobs/{cut}/retry").status_code == 202
            retried = server.wait_job(client, cut, timeout=120)
            assert retried["status"] == "succeeded" and retried["attempts"] == 2
            summary = client.get(f"/v1/runs/{retried['run_id']}").json()
            assert summary["rows_in"] == 60_000
            runs = client.get("/v1/runs").json()
    finally:
        server.stop()
    statuses = sorted(r["status"] for r in runs)
    assert statuses == ["failed"] + ["succeeded"] * 5  # 1 + 3 small, the retried big one
