"""What one environment holds now: its settings, its tables, its last runs and its last verify.

Read-only: nothing here creates a table or writes an item, and nothing opens PostgreSQL, so
``inv summary`` works on an env that was never migrated (it says what is missing) and costs a
few DescribeTable calls and at most two small Queries of ``pni-cache-metadata``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pni_tasks import report
from pni_tasks.cost import format_usd
from pni_tasks.sink import describe_failure, describe_table

if TYPE_CHECKING:
    from pni_tasks.session import Session

RUN_COUNTS = ("created", "updated", "skipped", "deleted", "failed")


@dataclass(frozen=True)
class TableStatus:
    name: str
    exists: bool
    status: str  # DynamoDB's TableStatus, or "missing"
    item_count: int | None  # DynamoDB refreshes ItemCount and TableSizeBytes about every six hours
    size_bytes: int | None


def env_table_names(session: Session) -> list[str]:
    """The env's data tables (those selected) and its metadata table, by physical name."""
    return [session.env.table_name(spec.name) for spec in session.tables] + [session.env.metadata_table]


def table_statuses(session: Session) -> list[TableStatus]:
    statuses = []
    for name in env_table_names(session):
        try:
            info = describe_table(session.client, name)
        except (ClientError, BotoCoreError) as exc:
            raise describe_failure(exc, f"describe_table {name}", session.env) from None
        if info is None:
            statuses.append(TableStatus(name, False, "missing", None, None))
        else:
            statuses.append(TableStatus(name, True, info.status, info.item_count, info.size_bytes))
    return statuses


def missing_table_notes(statuses: list[TableStatus]) -> list[str]:
    return [f"table {s.name} does not exist yet: run inv create-tables" for s in statuses if not s.exists]


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def run_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a run record a status report shows (see recorder.py for the whole record)."""
    total = record.get("total") or {}
    return {
        "run_id": record.get("run_id"),
        "mode": record.get("mode"),
        "status": record.get("status"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "seconds": _seconds_between(record.get("started_at"), record.get("finished_at")),
        **{name: total.get(name) for name in RUN_COUNTS},
        "cost_actual": total.get("cost_actual"),
        "error": record.get("error"),
    }


def summary(session: Session, runs: int = 5) -> dict[str, Any]:
    """The env's status report as one JSON-ready document; never creates anything."""
    statuses = table_statuses(session)
    notes = missing_table_notes(statuses)
    metadata_exists = next(s.exists for s in statuses if s.name == session.env.metadata_table)
    recent: list[dict[str, Any]] = []
    last_verify = None
    if metadata_exists:
        try:
            recent = [run_summary(record) for record in session.metadata.last_runs(runs)]
            last_verify = session.metadata.last_verify()
        except (ClientError, BotoCoreError) as exc:
            raise describe_failure(exc, f"query {session.env.metadata_table}", session.env) from None
    if metadata_exists and not recent:
        notes.append(f"no run is recorded in {session.env.metadata_table} yet: run inv migrate")
    return {
        "env": session.env.name,
        "config": session.env.public_view(),
        "tables": [asdict(s) for s in statuses],
        "runs": recent,
        "last_verify": last_verify,
        "notes": notes,
    }


# -------------------------------------------------------------------------------------------------
# Text rendering
# -------------------------------------------------------------------------------------------------


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size_bytes < 1024 or unit == "GB":
            return f"{size_bytes:,.0f} {unit}" if unit == "B" else f"{size_bytes:,.1f} {unit}"
        size_bytes /= 1024
    return "-"  # pragma: no cover - the loop always returns


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in config.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        rows.append((key, '""' if value == "" else str(value)))
    return rows


def _run_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["run_id"] or "-", r["mode"] or "-", r["status"] or "-", r["started_at"] or "-",
             "-" if r["seconds"] is None else f"{r['seconds']:.1f}s",
             *[_count(r[name]) for name in RUN_COUNTS],
             "-" if r["cost_actual"] is None else format_usd(float(r["cost_actual"]))]
            for r in runs]


def _verify_lines(verify: dict[str, Any] | None) -> list[str]:
    if not verify:
        return ["last verify: none recorded (run inv verify)"]
    result = "PASS" if verify.get("ok") else "FAIL"
    rows = [(table, _count(t.get("expected")), _count(t.get("stored")), _count(t.get("missing")),
             _count(t.get("extra")), _count(t.get("different")))
            for table, t in sorted((verify.get("tables") or {}).items())]
    return [f"last verify: {result} at {verify.get('finished_at')}",
            report.table(rows, ["table", "expected", "stored", "missing", "extra", "different"])]


def summary_text(document: dict[str, Any]) -> str:
    tables = [(t["name"], t["status"], _count(t["item_count"]), _size(t["size_bytes"])) for t in document["tables"]]
    parts = [
        f"env {document['env']}",
        report.table(_config_rows(document["config"]), ["setting", "value"]),
        "",
        report.table(tables, ["table", "status", "items (approx.)", "size (approx.)"]),
        "",
        f"last {len(document['runs'])} run(s):" if document["runs"] else "last runs: none recorded",
    ]
    if document["runs"]:
        parts.append(report.table(_run_rows(document["runs"]),
                                  ["run", "mode", "status", "started", "duration", *RUN_COUNTS, "cost"]))
    parts += ["", *_verify_lines(document["last_verify"])]
    if document["notes"]:
        parts += ["", *(f"note: {note}" for note in document["notes"])]
    return "\n".join(parts)
