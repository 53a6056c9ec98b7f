"""Request and response bodies of the HTTP API (they make up the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class ScanRequest(BaseModel):
    """A scan of a file on the server, under one of its data roots."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(description="JSONL, Parquet or CSV file under a data root")
    rules: list[str] = Field(
        default_factory=list,
        description="bundled pack names, or TOML files under a data root",
    )
    detectors: list[str] = Field(
        default_factory=list, description="`NAME[:key=value,...]` detectors beyond the packs"
    )
    reference: str | None = Field(
        default=None, description="the untraited model's outputs (file under a data root)"
    )
    out: str | None = Field(
        default=None, description="survivors file (.jsonl or .parquet) under a data root"
    )
    rejected: str | None = Field(
        default=None, description="dropped and quarantined rows, under a data root"
    )
    prompt_column: str = "prompt"
    completion_column: str = "completion"
    id_column: str | None = None
    format: Literal["jsonl", "parquet", "csv"] | None = None
    batch_rows: int = Field(default=100_000, ge=1, le=10_000_000)


class JobAccepted(BaseModel):
    """The answer to a submission: the job to poll."""

    job_id: str
    status: JobStatus = "queued"


class Job(BaseModel):
    """A job's state; ``run_id`` names the ledger run once one was started."""

    job_id: str
    status: JobStatus
    run_id: str | None = None
    error: str | None = None
    attempts: int = 0
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    request: dict[str, Any] = Field(default_factory=dict)


class Problem(BaseModel):
    """Every 4xx/5xx answer: one line saying what to fix."""

    detail: str
