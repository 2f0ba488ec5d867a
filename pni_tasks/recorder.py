"""The run recorder: a built-in plugin on the run events that keeps ``pni-cache-metadata`` true.

A run is recorded as ``running`` when it starts, per-table state is written as each table
finishes, and the record is completed (succeeded, failed or interrupted) at the end. A dry run
records nothing: it writes nothing anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pni_tasks import hookimpl
from pni_tasks.model import TableStats
from pni_tasks.runinfo import RunInfo, RunResult

if TYPE_CHECKING:
    from pni_tasks.session import Session


def _run_record(run: RunInfo, **extra: Any) -> dict[str, Any]:
    return {"run_id": run.run_id, "env": run.env, "mode": run.strategy, "started_at": run.started_at,
            "tool_version": run.tool_version, "tables": run.tables, "options": run.options, **extra}


class RunRecorder:
    def __init__(self, session: Session) -> None:
        self.session = session

    @hookimpl
    def pni_run_started(self, run: RunInfo) -> None:
        if run.strategy != "verify" and not run.dry_run:
            self.session.metadata.start_run(_run_record(run, status="running"))

    @hookimpl
    def pni_table_finished(self, run: RunInfo, stats: TableStats) -> None:
        if run.dry_run or run.strategy == "verify" or stats.failed:
            return
        self.session.metadata.put_table_state(stats.table, {
            "last_run_id": run.run_id, "last_run_started_at": run.started_at, "mode": run.strategy,
            **{name: getattr(stats, name) for name in (*TableStats.COUNTS, "items", "orphans")},
        })

    @hookimpl
    def pni_run_finished(self, run: RunInfo, result: RunResult) -> None:
        if run.strategy == "verify" or run.dry_run:
            return
        summary = result.as_dict(run)
        self.session.metadata.finish_run(_run_record(
            run, status=result.status, finished_at=result.finished_at, error=result.error or _failure_line(result),
            counts={stats.table: {k: v for k, v in stats.as_dict().items() if k not in ("failures", "warnings")}
                    for stats in result.tables},
            total={k: v for k, v in summary["total"].items() if k not in ("failures", "warnings")},
            failed_items=[failure.line() for failure in result.failures][:100],
        ))


def _failure_line(result: RunResult) -> str | None:
    if result.refusals:
        return "; ".join(result.refusals)
    if result.failures:
        return f"{len(result.failures)} item(s) failed"
    return None
