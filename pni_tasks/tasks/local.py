"""``inv local.*``: the local stack (embedded PostgreSQL + moto's DynamoDB) and its sample data.

Thin tasks: they read ``pni.local`` and ``pni.envs.local`` and call :mod:`pni_tasks.localstack`
and :mod:`pni_tasks.sampledata`, which do the work.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from invoke import Collection, Context, task
from tabulate import tabulate

from pni_tasks import localstack, sampledata
from pni_tasks.errors import ConfigError, SourceError
from pni_tasks.tasks._cli import user_errors

LOCAL_KEYS = ("state_dir", "pg_port", "dynamodb_port")


def _local_settings(c: Context) -> dict[str, Any]:
    local = c.config.pni.get("local") or {}
    missing = [key for key in LOCAL_KEYS if local.get(key) in (None, "")]
    if missing:
        raise ConfigError(f"setting pni.local.{missing[0]} is missing: set it in your config file (see invoke.yaml)")
    return {key: local[key] for key in LOCAL_KEYS}


def _database(c: Context) -> str:
    env = (c.config.pni.get("envs") or {}).get("local") or {}
    database = env.get("database")
    if not database:
        raise ConfigError("setting pni.envs.local.database is missing: set it to the local database name (e.g. pni)")
    return str(database)


def _print_status(local: dict[str, Any]) -> None:
    rows = localstack.status(localstack.resolve_state_dir(local), int(local["pg_port"]), int(local["dynamodb_port"]))
    table = [(row["name"], row["state"], row["address"], row["pid"] or "-", row["detail"]) for row in rows]
    print(tabulate(table, headers=["service", "state", "address", "pid", "detail"], disable_numparse=True))


def _endpoint_note(c: Context, endpoint_url: str) -> str | None:
    """A hint when env local's endpoint is not the server just started (e.g. a changed port)."""
    configured = ((c.config.pni.get("envs") or {}).get("local") or {}).get("endpoint_url")
    if configured and configured.rstrip("/") != endpoint_url:
        return (f"note: pni.envs.local.endpoint_url is {configured}, not {endpoint_url}: "
                "set it to the started server to migrate into it")
    return None


def _prepare_schema(conn, database: str, reset: bool) -> None:
    """Create the tables, or refuse to seed over existing data unless ``reset``."""
    if reset:
        sampledata.create_schema(conn, drop=True)
        return
    counts = sampledata.table_counts(conn)
    present = [table for table, count in counts.items() if count is not None]
    if not present:
        sampledata.create_schema(conn)
    elif len(present) < len(counts):
        raise SourceError(f"database {database} has only some PNI tables ({', '.join(present)}): "
                          "rerun with --reset to recreate them")
    elif any(counts.values()):
        raise SourceError(f"database {database} already holds PNI data ({counts['lessons']} lessons): "
                          "rerun with --reset to replace it")


@task
@user_errors
def up(c):
    """Start the local stack on 127.0.0.1: embedded PostgreSQL (unless PNI_PG_DSN) and moto's DynamoDB."""
    local = _local_settings(c)
    stack = localstack.up(local, _database(c))
    _print_status(local)
    print(f"\nPostgreSQL database: {localstack.describe_dsn(stack['pg_dsn'])}")
    note = _endpoint_note(c, stack["endpoint_url"])
    if note:
        print(note)
    print("next: inv local.seed --lessons 100, then inv migrate --env=local")


@task(help={
    "lessons": "how many lessons to generate (default 100); passages and questions are 3 and 10 per lesson",
    "seed": "random seed: the same seed gives the same rows (default 42)",
    "nan": "add one lesson whose difficulty is NaN (it must fail to migrate, alone)",
    "oversize": "add one lesson whose item exceeds DynamoDB's 400 KB (it must fail to migrate, alone)",
    "reset": "drop and recreate the PNI tables first (their rows are lost)",
})
@user_errors
def seed(c, lessons=100, seed=42, nan=False, oversize=False, reset=False):
    """Fill the local database with generated PNI lessons, passages and questions (starts the stack if needed)."""
    local = _local_settings(c)
    stack = localstack.up(local, _database(c))
    database = localstack.describe_dsn(stack["pg_dsn"])
    started = time.monotonic()
    with contextlib.closing(localstack.connect(stack["pg_dsn"])) as conn:
        _prepare_schema(conn, database, reset)
        counts = sampledata.seed(conn, lessons, seed=seed, nan=nan, oversize=oversize)
    print(tabulate(list(counts.items()), headers=["table", "rows"], disable_numparse=True))
    print(f"\nseeded {database} in {time.monotonic() - started:.1f} s (seed {seed})")


@task
@user_errors
def status(c):
    """Show whether the local PostgreSQL and DynamoDB servers run, where, and their logs."""
    _print_status(_local_settings(c))


@task
@user_errors
def down(c):
    """Stop the local stack's servers (their data stays in the state dir)."""
    stopped = localstack.down(_local_settings(c))
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


ns = Collection("local")
for local_task in (up, seed, status, down):
    ns.add_task(local_task)
