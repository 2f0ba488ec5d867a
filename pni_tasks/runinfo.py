"""What run events carry: the run's identity and options, and its outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pni_tasks import __version__
from pni_tasks.model import ItemFailure, TableStats


def utc_now() -> str:
    """Now as ISO-8601 UTC with ``Z`` and microseconds (run start times sort as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RunInfo:
    """One load (or verify) of one environment."""

    env: str
    strategy: str
    tables: list[str]
    dry_run: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=utc_now)
    tool_version: str = __version__

    @property
    def mode(self) -> str:
        return self.strategy


@dataclass
class RunResult:
    """How a run ended. ``status``: succeeded, failed or interrupted."""

    status: str
    tables: list[TableStats]
    total: TableStats
    finished_at: str = field(default_factory=utc_now)
    error: str | None = None
    refusals: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[ItemFailure]:
        return [failure for stats in self.tables for failure in stats.failures]

    @property
    def ok(self) -> bool:
        return self.status == "succeeded" and not self.failures and not self.refusals

    def as_dict(self, run: RunInfo) -> dict[str, Any]:
        return {
            "run_id": run.run_id,
            "env": run.env,
            "mode": run.strategy,
            "dry_run": run.dry_run,
            "status": self.status,
            "started_at": run.started_at,
            "finished_at": self.finished_at,
            "tool_version": run.tool_version,
            "error": self.error,
            "refusals": list(self.refusals),
            "tables": [stats.as_dict() for stats in self.tables],
            "total": self.total.as_dict(),
        }
