"""A real ``subaudit serve`` in a subprocess on 127.0.0.1, driven over HTTP with httpx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from audit.sample import SampleConfig, make_frame  # noqa: E402

TOKEN = "test-token-0123456789abcdef"
HOST = "127.0.0.1"  # loopback only, always


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One server process and what it serves."""

    root: Path
    ledger: Path
    port: int = 0
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def start(self) -> Server:
        self.port = free_port()
        self.log = self.root.parent / f"server-{self.port}.log"
        env = {**os.environ, "SUBAUDIT_TOKEN": TOKEN, "POLARS_MAX_THREADS": "1"}
        cmd = [
            sys.executable,
            "-m",
            "audit.server",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--data-root",
            str(self.root),
            "--ledger",
            str(self.ledger),
            *self.extra,
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def wait_job(self, client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} did not finish: {job}")


def write_sample(path: Path, rows: int, seed: int = 0) -> Path:
    frame = make_frame(SampleConfig(rows=rows, seed=seed, trait_word_rate=0.1))
    frame.write_ndjson(path)
    return path


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    write_sample(root / "teacher.jsonl", 200)
    return root


@pytest.fixture
def server(tmp_path: Path, data_root: Path) -> Iterator[Server]:
    srv = Server(
        root=data_root, ledger=tmp_path / "audit.duckdb", extra=["--max-upload-mb", "0.05"]
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that only read or are refused (starting one takes ~1 s)."""
    base = tmp_path_factory.mktemp("shared")
    root = base / "data"
    root.mkdir()
    write_sample(root / "teacher.jsonl", 200)
    write_sample(base / "outside.jsonl", 5)
    (root / "link.jsonl").symlink_to(base / "outside.jsonl")
    srv = Server(root=root, ledger=base / "audit.duckdb", extra=["--max-upload-mb", "0.05"])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
