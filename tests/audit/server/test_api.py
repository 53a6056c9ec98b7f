"""The HTTP API against a real server process: submit, poll, summaries, errors, auth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.scan import scan
from tests.audit.server.conftest import Server, write_sample


def test_scan_job_summary_equals_scan_json(server: Server, data_root: Path, tmp_path: Path) -> None:
    out = data_root / "survivors.parquet"
    with server.client() as client:
        answer = client.post(
            "/v1/scans",
            json={"input": "teacher.jsonl", "rules": ["numbers", "animals"], "out": str(out)},
        )
        assert answer.status_code == 202
        job = server.wait_job(client, answer.json()["job_id"])
        assert job["status"] == "succeeded", job
        summary = client.get(f"/v1/runs/{job['run_id']}").json()
        listed = client.get("/v1/runs").json()
        jobs = client.get("/v1/jobs").json()
    local = scan(
        data_root / "teacher.jsonl", ["numbers", "animals"], ledger=tmp_path / "local.duckdb"
    ).to_json()
    # Same keys as `scan --json`; counts and funnel equal; the rest is per run.
    assert set(summary) == set(local)
    for key in ("rows_in", "kept", "dropped", "flagged", "quarantined", "funnel", "input_sha256"):
        assert summary[key] == local[key], key
    assert summary["status"] == "succeeded"
    assert summary["out"] == str(out.resolve()) and out.exists()
    assert [r["run_id"] for r in listed] == [job["run_id"]]
    assert [j["job_id"] for j in jobs] == [job["job_id"]]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"input": "/etc/passwd", "rules": ["numbers"]}, 403, "outside the server's data roots"),
        ({"input": "../outside.jsonl", "rules": ["numbers"]}, 403, "outside"),
        ({"input": "link.jsonl", "rules": ["numbers"]}, 403, "outside"),  # symlink out
        ({"input": "teacher.jsonl", "rules": ["/etc/x.toml"]}, 403, "rules"),
        ({"input": "teacher.jsonl", "rules": ["no_such_pack"]}, 422, "unknown rule pack"),
        ({"input": "teacher.jsonl", "detectors": ["no_such"]}, 422, "unknown detector"),
        ({"input": "teacher.jsonl", "detectors": ["length:bogus=1"]}, 422, "bogus"),
        ({"input": "teacher.jsonl"}, 422, "at least one"),
        ({"input": "missing.jsonl", "rules": ["numbers"]}, 422, "no such file"),
        ({"input": "teacher.jsonl", "rules": ["numbers"], "out": "s.txt"}, 422, "suffix"),
        ({"input": "teacher.jsonl", "rules": ["numbers"], "extra": 1}, 422, "extra"),
        ({"rules": ["numbers"]}, 422, "input"),
    ],
)
def test_bad_requests_are_clear_4xx(
    shared: Server, body: dict[str, object], status: int, needle: str
) -> None:
    with shared.client() as client:
        before = len(client.get("/v1/jobs").json())
        answer = client.post("/v1/scans", json=body)
        assert answer.status_code == status, answer.text
        assert needle in answer.json()["detail"]
        assert len(client.get("/v1/jobs").json()) == before  # nothing was queued


def test_bad_json_is_400(shared: Server) -> None:
    with shared.client() as client:
        answer = client.post(
            "/v1/scans", content=b'{"input": ', headers={"content-type": "application/json"}
        )
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["detail"]


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/runs"), ("GET", "/v1/jobs/x"), ("POST", "/v1/scans"), ("GET", "/v1/runs/x")],
)
def test_auth_required(shared: Server, token: str | None, method: str, path: str) -> None:
    with shared.client(token) as client:
        answer = client.request(method, path, json={})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_open_endpoints(shared: Server) -> None:
    with shared.client(None) as client:
        assert client.get("/healthz").json()["worker"] is True
        schema = client.get("/openapi.json").json()
    assert {"/v1/scans", "/v1/jobs/{job_id}", "/v1/runs/{run_id}"} <= set(schema["paths"])


def test_upload_and_size_limit(shared: Server, tmp_path: Path) -> None:
    server = shared
    small = write_sample(tmp_path / "small.jsonl", 20)
    big = write_sample(tmp_path / "big.jsonl", 2000)  # over the fixture's 0.05 MB limit
    options = json.dumps({"rules": ["numbers"]})
    with server.client() as client:
        answer = client.post(
            "/v1/scans/upload",
            files={"file": ("small.jsonl", small.read_bytes())},
            data={"request": options},
        )
        assert answer.status_code == 202, answer.text
        job = server.wait_job(client, answer.json()["job_id"])
        assert job["status"] == "succeeded", job
        assert client.get(f"/v1/runs/{job['run_id']}").json()["rows_in"] == 20
        too_big = client.post(
            "/v1/scans/upload",
            files={"file": ("big.jsonl", big.read_bytes())},
            data={"request": options},
        )
        assert too_big.status_code == 413
        assert "limit" in too_big.json()["detail"]
        bad = client.post(
            "/v1/scans/upload",
            files={"file": ("small.jsonl", small.read_bytes())},
            data={"request": json.dumps({"rules": ["nope"]})},
        )
        assert bad.status_code == 422


def test_failed_job_can_be_retried(server: Server, data_root: Path) -> None:
    broken = data_root / "broken.jsonl"
    broken.write_text("not json\n{also not\n")  # file-level fine, every row quarantined
    with server.client() as client:
        job_id = client.post("/v1/scans", json={"input": "broken.jsonl", "rules": ["numbers"]})
        job = server.wait_job(client, job_id.json()["job_id"])
        assert job["status"] == "failed" and "no readable rows" in str(job["error"])
        assert job["run_id"] is not None  # the failed run is linked
        assert client.get(f"/v1/runs/{job['run_id']}").json()["status"] == "failed"
        write_sample(broken, 10)
        assert client.post(f"/v1/jobs/{job['job_id']}/retry").status_code == 202
        again = server.wait_job(client, str(job["job_id"]))
        assert again["status"] == "succeeded" and again["attempts"] == 2
        conflict = client.post(f"/v1/jobs/{job['job_id']}/retry")
        assert conflict.status_code == 409
        assert client.post("/v1/jobs/job-nope/retry").status_code == 404
        assert client.get("/v1/jobs/job-nope").status_code == 404


def test_report_and_gate_endpoints(shared: Server) -> None:
    server = shared
    with server.client() as client:
        assert client.get("/v1/runs/nope/report").status_code == 404
        assert client.get("/v1/runs/nope/gate").status_code == 404
        job_id = client.post("/v1/scans", json={"input": "teacher.jsonl", "rules": ["numbers"]})
        job = server.wait_job(client, job_id.json()["job_id"])
        run_id = job["run_id"]
        html = client.get(f"/v1/runs/{run_id}/report")
        markdown = client.get(f"/v1/runs/{run_id}/report", params={"format": "md"})
        gate = client.get(f"/v1/runs/{run_id}/gate")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert run_id in html.text and "<script" not in html.text.lower()
    assert markdown.status_code == 200 and run_id in markdown.text
    # No gate has been recorded for the run yet: a clear 404, not an empty success.
    assert gate.status_code == 404 and "no gate result" in gate.json()["detail"]
