"""``inv bench``: throughput, request economy, memory and scaling of a migration, beside a hand-written baseline.

One benchmark run works on its own stack, so a user's local data is never touched:

- **PostgreSQL**: a dedicated database (``pni_bench`` unless told otherwise) on the local stack's
  server (the embedded one of ``inv local.up``, started if needed) or on the server of
  ``PNI_PG_DSN``. Its PNI tables are dropped, recreated and seeded at every run.
- **DynamoDB**: a private moto server on a free loopback port, started for the run (state dir
  ``<pni.local.state_dir>/bench``) and stopped at its end.

Every measured phase runs in a fresh child process (``python -m pni_tasks.bench phase NAME
CONFIG``), so its peak RSS (``VmHWM``, read by the child itself) is its own; the parent also
samples the child's RSS with psutil as a cross-check. The phases:

- ``pipeline``: read, transform and hash every table, nothing written, pinned to one CPU;
- ``clean``, ``nochange``, ``changed``: :func:`pni_tasks.engine.load` exactly as ``inv load
  --env=local [--clean]`` calls it (``changed`` after 1% of the questions were edited);
- ``baseline-clean``, ``baseline-nochange``: the old scripts' way: one query per lesson for its
  passages and questions (one per passage for a passage's questions), then ``get_item`` and
  ``put_item`` (no-change: ``get_item`` and compare) per item, single-threaded, plain boto3;
- ``floor``: the same items, serialized beforehand, written by an ideal writer (25 items per
  BatchWriteItem, as many threads as the tool's writers) into fresh tables: the server's limit.

Wall times are measured inside the child around the measured work (interpreter start-up and
imports excluded, the same for every phase).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import platform
import resource
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pni_tasks import localstack, sampledata
from pni_tasks.errors import ConfigError, PniError

LOGGER = logging.getLogger("pni")
BUILTIN_TABLES = ("pni-lessons", "pni-passages", "pni-topics")
BASELINE_PREFIX = "bench-baseline-"
FLOOR_PREFIX = "bench-floor-"
CHANGED_FRACTION = 0.01
BASELINE_LESSONS = 1000
SCALING_FACTORS = (1, 3, 10)
WRITE_OPERATIONS = ("BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem")
RSS_POLL_SECONDS = 0.05
CHILD_TIMEOUT_SECONDS = 3600


# -------------------------------------------------------------------------------------------------
# The stack: a dedicated database and a private moto server
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchStack:
    pg_dsn: str
    endpoint_url: str
    state_dir: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((localstack.LOOPBACK, 0))
        return sock.getsockname()[1]


def refuse_user_database(pni: Mapping[str, Any], database: str) -> None:
    """The benchmark drops and reseeds its database's PNI tables: never let that be the user's data."""
    from psycopg2.extensions import parse_dsn

    local = (pni.get("envs") or {}).get("local") or {}
    taken = {"env local (pni.envs.local.database)": local.get("database")}
    if os.environ.get("PNI_PG_DSN"):
        taken["PNI_PG_DSN"] = parse_dsn(os.environ["PNI_PG_DSN"]).get("dbname")
    for owner, name in taken.items():
        if name == database:
            raise ConfigError(f"--database {database} is the database of {owner}: the benchmark drops its PNI "
                              "tables; give it a database of its own (default pni_bench)")


@contextlib.contextmanager
def private_stack(local_settings: Mapping[str, Any], database: str) -> Iterator[BenchStack]:
    """The benchmark's database (created if missing) and a moto server of its own, stopped at the end."""
    local_state = localstack.resolve_state_dir(local_settings)
    server = os.environ.get("PNI_PG_DSN") or localstack.postgres_up(local_state, int(local_settings["pg_port"]))
    pg_dsn = localstack.ensure_database(server, database)
    state_dir = local_state / "bench"
    endpoint_url = localstack.dynamodb_up(state_dir, free_port())
    try:
        yield BenchStack(pg_dsn=pg_dsn, endpoint_url=endpoint_url, state_dir=state_dir)
    finally:
        localstack.dynamodb_down(state_dir)


def reseed(pg_dsn: str, lessons: int) -> dict[str, int]:
    """Replace the benchmark database's PNI tables with ``lessons`` generated lessons."""
    with contextlib.closing(localstack.connect(pg_dsn)) as conn:
        sampledata.create_schema(conn, drop=True)
        counts = sampledata.seed(conn, lessons)
        with conn.cursor() as cur:
            cur.execute("ANALYZE")  # fresh planner statistics for the baseline's per-lesson queries
        conn.commit()
    return counts


def bump(pg_dsn: str, fraction: float) -> int:
    with contextlib.closing(localstack.connect(pg_dsn)) as conn:
        return sampledata.bump_questions(conn, fraction)


def plain(value: Any) -> Any:
    """invoke's config proxies as plain dicts and lists (to hand them to a child as JSON)."""
    if hasattr(value, "keys"):
        return {key: plain(value[key]) for key in value.keys()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def child_config(pni: Mapping[str, Any], stack: BenchStack) -> dict[str, Any]:
    """The ``pni`` tree a phase runs with: env local pointed at the private server, the built-in tables only
    (the baseline knows no others)."""
    config = copy.deepcopy(plain(pni))
    config["envs"]["local"]["endpoint_url"] = stack.endpoint_url
    config["tables"] = list(BUILTIN_TABLES)
    return config


# -------------------------------------------------------------------------------------------------
# Running a phase in a child process
# -------------------------------------------------------------------------------------------------


def run_child(phase: str, config_path: Path, pg_dsn: str) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its JSON result plus the RSS peak psutil saw."""
    import psutil

    # PGDATABASE would win over the benchmark database named in PNI_PG_DSN.
    environ = {k: v for k, v in os.environ.items() if k != "PGDATABASE"}
    environ["PNI_PG_DSN"] = pg_dsn
    command = [sys.executable, "-m", "pni_tasks.bench", "phase", phase, str(config_path)]
    sampled, timed_out = 0, False
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = psutil.Popen(command, stdout=out, stderr=err, env=environ, text=True)
        deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
        try:
            while child.poll() is None:
                with contextlib.suppress(psutil.Error):
                    sampled = max(sampled, child.memory_info().rss)
                if time.monotonic() > deadline:
                    timed_out = True
                    child.kill()
                time.sleep(RSS_POLL_SECONDS)
        finally:
            if child.poll() is None:  # the parent was interrupted: no phase is left running
                child.kill()
                child.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        reason = f"not finished after {CHILD_TIMEOUT_SECONDS} s" if timed_out else (
            lines[-1] if lines else f"exit status {child.returncode}")
        raise PniError(f"bench phase {phase} failed: {reason}: fix the cause and rerun inv bench")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["rss_sampled_peak_mb"] = round(sampled / 2**20, 1)
    return result


def _phase_main(name: str, config_path: str) -> dict[str, Any]:
    from pni_tasks.session import Session

    spec = json.loads(Path(config_path).read_text(encoding="utf-8"))
    session = Session.from_config(spec["pni"], "local")
    result = PHASES[name](session, spec)
    result["phase"] = name
    result["peak_rss_mb"] = round(peak_rss_bytes() / 2**20, 1)
    return result


def peak_rss_bytes() -> int:
    """This process's peak resident set size.

    Linux's ``ru_maxrss`` survives ``exec``: a child would report at least the RSS of the parent it
    was forked from. ``VmHWM`` belongs to the process's own address space, so read that first.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main(argv: list[str] | None = None) -> int:
    """``python -m pni_tasks.bench phase NAME CONFIG``: one phase; one JSON line on stdout."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "phase" or argv[1] not in PHASES:
        print(f"usage: python -m pni_tasks.bench phase {{{','.join(PHASES)}}} CONFIG.json", file=sys.stderr)
        return 2
    try:
        result = _phase_main(argv[1], argv[2])
    except PniError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, default=str))
    return 0


# -------------------------------------------------------------------------------------------------
# Phases of the tool
# -------------------------------------------------------------------------------------------------


def _data_tables(session: Any, tables: list[Any]) -> list[Any]:
    return [t for t in tables if t.table != session.metadata.table_name]


class TableWrites:
    """Write calls per table name: the engine's counts are by operation, and a manifest put made while a
    data table is loaded lands in that table's figures."""

    def __init__(self, client: Any) -> None:
        self.by_table: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb", self._count)

    def _count(self, params: Mapping[str, Any], event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "BatchWriteItem":
            self.by_table.update(params.get("RequestItems", {}).keys())
        elif operation in WRITE_OPERATIONS:
            self.by_table[params.get("TableName", "?")] += 1


def load_phase(session: Any, strategy: str) -> dict[str, Any]:
    """One ``inv load`` of env local: wall time, items, requests by operation, units and cost."""
    from pni_tasks import engine

    writes = TableWrites(session.client)  # the client is built before the clock, as inv load's pre-tasks do
    started, cpu = time.perf_counter(), time.process_time()
    _, result = engine.load(session, engine.LoadOptions(strategy=strategy))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    data = _data_tables(session, result.tables)
    total = result.total
    return {
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
        "items": sum(t.items for t in data),
        **{name: sum(getattr(t, name) for t in data) for name in ("created", "updated", "skipped", "failed")},
        "wru": total.wru, "rru": total.rru, "data_wru": sum(t.wru for t in data), "data_rru": sum(t.rru for t in data),
        "cost_actual": round(total.cost_actual, 8), "cost_full": round(total.cost_full, 8),
        "requests": dict(total.requests),
        "data_write_requests": sum(count for name, count in writes.by_table.items()
                                   if name != session.metadata.table_name),
        "write_requests_by_table": dict(writes.by_table),
        "tables": {t.table: {"items": t.items, "requests": dict(t.requests), "wru": t.wru, "rru": t.rru,
                             "created": t.created, "updated": t.updated, "skipped": t.skipped} for t in result.tables},
        "failures": [f.line() for f in result.failures][:5],
    }


class CountingSource:
    """A :class:`~pni_tasks.source.Source` that counts the rows its streams hand to the plugins."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self.rows = 0

    def stream(self, query: Any, params: Any = None, *, label: str | None = None) -> Iterator[dict[str, Any]]:
        rows = self._source.stream(query, params, label=label)
        try:
            for row in rows:
                self.rows += 1
                yield row
        finally:
            rows.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def prepared_items(session: Any, source: Any, on_item: Callable[[Any, str, Any], None]) -> dict[str, dict]:
    """Read, transform and hash every table (nothing written); ``on_item(spec, table name, item)`` per item.
    Returns per table: items, failures and the source rows its plugin read."""
    from pni_tasks.runinfo import utc_now
    from pni_tasks.transform import TransformContext, items_of_group

    figures = {}
    for spec in session.tables:
        name = session.env.table_name(spec.name)
        counting = CountingSource(source)
        settings = session.plugin_settings(spec)
        context = TransformContext(migrated_at=utc_now(), settings=settings)
        failures: list[Any] = []
        items = 0
        for group in session.pm.hook.pni_read_source(table=spec, source=counting, settings=settings):
            for item in items_of_group(session.pm, spec, group, context, failures.append):
                items += 1
                on_item(spec, name, item)
            context.warnings.clear()
        figures[name] = {"items": items, "source_rows": counting.rows, "failed": len(failures)}
    return figures


def _pin_to_one_cpu() -> int | None:
    # The pipeline is single-threaded: measure it on one core, whatever else runs on the machine.
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def pipeline_phase(session: Any) -> dict[str, Any]:
    """Read, transform and hash every table, nothing written: source rows per second on one core."""
    cpu_pinned = _pin_to_one_cpu()
    started, cpu = time.perf_counter(), time.process_time()
    with session.open_source() as source:
        tables = prepared_items(session, source, lambda spec, name, item: None)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = sum(t["source_rows"] for t in tables.values())
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "cpu_pinned": cpu_pinned,
            "items": sum(t["items"] for t in tables.values()), "source_rows": rows,
            "rows_per_second": round(rows / seconds, 1) if seconds else None, "tables": tables}


# -------------------------------------------------------------------------------------------------
# The server's floor: pre-serialized items, ideal batches
# -------------------------------------------------------------------------------------------------


def _fresh_table(client: Any, name: str, spec: Any, tags: Mapping[str, str]) -> None:
    from pni_tasks.sink import create_table, delete_table

    delete_table(client, name)
    create_table(client, name, spec, tags)


def _write_batch_ideally(client: Any, table: str, requests: list[dict]) -> None:
    while requests:
        response = client.batch_write_item(RequestItems={table: requests})
        requests = response.get("UnprocessedItems", {}).get(table, [])
        if requests:
            time.sleep(0.05)


def floor_phase(session: Any) -> dict[str, Any]:
    """The same items, serialized before the clock starts, written 25 per BatchWriteItem by as many
    threads as the tool's writers into fresh tables: what the server itself allows."""
    from pni_tasks.sink import MAX_BATCH_ITEMS, serialize

    batches: list[tuple[str, list[dict]]] = []
    pending: dict[str, list[dict]] = {}

    def collect(spec: Any, name: str, item: Any) -> None:
        requests = pending.setdefault(FLOOR_PREFIX + name, [])
        requests.append({"PutRequest": {"Item": serialize(item.item)}})
        if len(requests) == MAX_BATCH_ITEMS:
            batches.append((FLOOR_PREFIX + name, pending.pop(FLOOR_PREFIX + name)))

    with session.open_source() as source:
        prepared_items(session, source, collect)
    batches.extend(pending.items())
    client = session.client
    for spec in session.tables:
        _fresh_table(client, FLOOR_PREFIX + session.env.table_name(spec.name), spec, session.tags)
    before = session.counter.snapshot().get("BatchWriteItem", 0)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=session.env.writers, thread_name_prefix="floor") as pool:
        list(pool.map(lambda batch: _write_batch_ideally(client, *batch), batches))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "items": sum(len(requests) for _, requests in batches),
            "writers": session.env.writers,
            "requests": {"BatchWriteItem": session.counter.snapshot().get("BatchWriteItem", 0) - before}}


# -------------------------------------------------------------------------------------------------
# The baseline: how the old scripts migrate
# -------------------------------------------------------------------------------------------------


class BaselineReader:
    """The old scripts' reading: all lessons, then one query per lesson (and per passage) for its children."""

    def __init__(self, connection: Any) -> None:
        import psycopg2.extras

        self.connection = connection
        self.cursor = connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
        self.queries = 0

    def rows(self, query: Any, params: tuple = ()) -> list[dict[str, Any]]:
        self.queries += 1
        self.cursor.execute(query, params)
        return [dict(row) for row in self.cursor.fetchall()]

    def groups(self, table: str, lessons: int | None) -> Iterator[Any]:
        from psycopg2 import sql

        from plugins._pni_source import (
            LESSON_COLUMNS,
            PASSAGE_COLUMNS,
            PASSAGE_REF_COLUMNS,
            QUESTION_COLUMNS,
            LessonRows,
            PassageRows,
            select_ordered,
        )
        from plugins.topics import TOPICS_QUERY, topic_key
        from pni_tasks.model import SourceGroup

        of_lesson = sql.SQL("lesson_id = %s")
        children = ("position", "id")
        if table == "pni-topics":
            yield from (SourceGroup(topic_key(row), row) for row in self.rows(TOPICS_QUERY))
            return
        first_lessons = sql.SQL(" LIMIT %s") if lessons is not None else sql.SQL("")
        for lesson in self.rows(select_ordered("lessons", LESSON_COLUMNS, ("id",)) + first_lessons,
                                (lessons,) if lessons is not None else ()):
            if table == "pni-lessons":
                passages = self.rows(select_ordered("passages", PASSAGE_REF_COLUMNS, children, of_lesson),
                                     (lesson["id"],))
                questions = self.rows(select_ordered("questions", QUESTION_COLUMNS, children, of_lesson),
                                      (lesson["id"],))
                yield SourceGroup(f"lessons.id={lesson['id']}", LessonRows(lesson, passages, questions))
                continue
            for passage in self.rows(select_ordered("passages", PASSAGE_COLUMNS, children, of_lesson),
                                     (lesson["id"],)):
                questions = self.rows(select_ordered("questions", QUESTION_COLUMNS, children,
                                                     sql.SQL("passage_id = %s")), (passage["id"],))
                yield SourceGroup(f"passages.id={passage['id']}", PassageRows(passage, questions))


def _baseline_connection(session: Any) -> Any:
    import psycopg2
    import psycopg2.extras

    from pni_tasks.source import exact_json_loads

    connection = psycopg2.connect(**session.pg_credentials().connect_kwargs(session.env.connect_timeout))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    # the same exact numbers as the tool, so that both write the same items
    psycopg2.extras.register_default_json(connection, loads=exact_json_loads)
    psycopg2.extras.register_default_jsonb(connection, loads=exact_json_loads)
    return connection


def baseline_phase(session: Any, lessons: int | None, *, clean: bool) -> dict[str, Any]:
    """Single-threaded, plain boto3: per item ``get_item`` then ``put_item`` (clean), or ``get_item`` and a
    hash comparison, ``put_item`` only when different (no change). ``lessons``: only the first lessons
    by id (and their passages) when not None; the topics are aggregates of all lessons."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from pni_tasks.runinfo import utc_now
    from pni_tasks.sink import RequestCounter, boto_session
    from pni_tasks.sizing import read_units, write_units
    from pni_tasks.transform import TransformContext, items_of_group

    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    counter = RequestCounter()
    client = boto_session(session.env).client("dynamodb", endpoint_url=session.env.endpoint_url)  # boto3 defaults
    counter.attach(client)
    figures = {"items": 0, "written": 0, "different": 0, "failed": 0, "wru": 0.0, "rru": 0.0}

    def count_failure(failure: Any) -> None:
        figures["failed"] += 1

    connection = _baseline_connection(session)
    reader = BaselineReader(connection)
    started = time.perf_counter()
    try:
        for spec in session.tables:
            name = BASELINE_PREFIX + session.env.table_name(spec.name)
            if clean:
                _fresh_table(client, name, spec, session.tags)
            context = TransformContext(migrated_at=utc_now())
            for group in reader.groups(spec.name, lessons):
                for item in items_of_group(session.pm, spec, group, context, count_failure):
                    figures["items"] += 1
                    key = {attr: serializer.serialize(value) for attr, value in zip(spec.key_names, item.key,
                                                                                     strict=True)}
                    stored = client.get_item(TableName=name, Key=key).get("Item")
                    figures["rru"] += read_units(item.size if stored else 0)
                    if stored is not None:
                        if deserializer.deserialize(stored["content_hash"]) == item.content_hash:
                            continue
                        figures["different"] += 1
                    client.put_item(TableName=name, Item={attr: serializer.serialize(value)
                                                          for attr, value in item.item.items()})
                    figures["written"] += 1
                    figures["wru"] += write_units(item.size)
                context.warnings.clear()
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), **figures, "source_queries": reader.queries,
            "requests": counter.snapshot()}


# Each phase gets the session and the child's spec ({"pni": ..., "baseline_lessons": ...}).
PHASES: dict[str, Callable[[Any, Mapping[str, Any]], dict[str, Any]]] = {
    "pipeline": lambda session, spec: pipeline_phase(session),
    "clean": lambda session, spec: load_phase(session, "clean"),
    "nochange": lambda session, spec: load_phase(session, "incremental"),
    "changed": lambda session, spec: load_phase(session, "incremental"),
    "floor": lambda session, spec: floor_phase(session),
    "baseline-clean": lambda session, spec: baseline_phase(session, spec["baseline_lessons"], clean=True),
    "baseline-nochange": lambda session, spec: baseline_phase(session, spec["baseline_lessons"], clean=False),
}
MAIN_PHASES = ("pipeline", "floor", "clean", "nochange", "changed", "baseline-clean", "baseline-nochange")
# moto slows down as it fills (its garbage collector walks every item it holds): each writer starts
# on an emptied server, so the floor, the tool and the baseline write under the same conditions.
EMPTY_SERVER_AFTER = frozenset({"floor", "changed", "baseline-nochange"})


# -------------------------------------------------------------------------------------------------
# The whole benchmark
# -------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import importlib.metadata

    import psutil

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model, "cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(), "python": platform.python_version(),
        **{name: importlib.metadata.version(name) for name in ("moto", "boto3", "psycopg2-binary")},
    }


def _postgres_version(pg_dsn: str) -> str:
    with contextlib.closing(localstack.connect(pg_dsn)) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        return cur.fetchone()[0]


def empty_server(config: Mapping[str, Any]) -> None:
    """Delete every table of the private server."""
    from pni_tasks.config import env_settings
    from pni_tasks.sink import delete_table, dynamodb_client

    client = dynamodb_client(env_settings(config, "local"))
    names = [name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]]
    for name in names:
        delete_table(client, name)


def _phases(config_path: Path, stack: BenchStack, names: tuple[str, ...], config: Mapping[str, Any],
            empty_after: frozenset[str] = EMPTY_SERVER_AFTER) -> dict[str, dict]:
    results = {}
    for name in names:
        if name == "changed":
            changed = bump(stack.pg_dsn, CHANGED_FRACTION)
            LOGGER.info(f"bench: edited {changed:,} questions ({CHANGED_FRACTION:.0%})")
        LOGGER.info(f"bench: phase {name}")
        results[name] = run_child(name, config_path, stack.pg_dsn)
        if name == "changed":
            results[name]["questions_edited"] = changed
        if name in empty_after:
            empty_server(config)
        LOGGER.info(f"bench: phase {name}: {results[name]['seconds']:.2f} s, "
                    f"peak RSS {results[name]['peak_rss_mb']:.0f} MB")
    return results


def run(pni: Mapping[str, Any], *, lessons: int, scaling: bool, database: str,
        baseline_lessons: int = BASELINE_LESSONS) -> dict[str, Any]:
    """The whole benchmark: seed, every phase, optionally the scaling series; the results document.

    The baseline migrates the first ``baseline_lessons`` lessons only (0: all of them): at moto's
    speed it needs about 10 ms a request, which for 10,000 lessons is a quarter of an hour. Its
    rates (items/s) are compared with the tool's; its no-change time is scaled to the whole data.
    """
    if lessons < 1:
        raise PniError(f"--lessons {lessons} is invalid: use a whole number >= 1")
    if baseline_lessons < 0:
        raise PniError(f"--baseline-lessons {baseline_lessons} is invalid: use 0 (all) or a whole number")
    refuse_user_database(pni, database)
    local_settings = plain(pni.get("local") or {})
    started = time.monotonic()
    document: dict[str, Any] = {"lessons": lessons, "machine": machine(), "load_before": os.getloadavg()}
    with private_stack(local_settings, database) as stack, tempfile.TemporaryDirectory() as tmp:
        config = child_config(pni, stack)
        config_path = Path(tmp) / "pni.json"
        sample = baseline_lessons if 0 < baseline_lessons < lessons else None
        config_path.write_text(json.dumps({"pni": config, "baseline_lessons": sample}), encoding="utf-8")
        document["baseline_lessons"] = sample or lessons
        document["machine"]["postgresql"] = _postgres_version(stack.pg_dsn)
        document["database"] = localstack.describe_dsn(stack.pg_dsn)
        LOGGER.info(f"bench: seeding {lessons:,} lessons into {document['database']}")
        seeded = time.perf_counter()
        document["source"] = reseed(stack.pg_dsn, lessons)
        document["seed_seconds"] = round(time.perf_counter() - seeded, 2)
        document["phases"] = _phases(config_path, stack, MAIN_PHASES, config)
        document["main_seconds"] = round(time.monotonic() - started, 1)  # seeding and phases, without scaling
        if scaling:
            document["scaling"] = scaling_series(config_path, stack, config, max(1, lessons // 10))
    document["load_after"] = os.getloadavg()
    document["total_seconds"] = round(time.monotonic() - started, 1)
    document["targets"] = [target.as_dict() for target in targets(document, prices(config))]
    return document


def prices(config: Mapping[str, Any]) -> Any:
    from pni_tasks.config import env_settings

    return env_settings(config, "local").prices


def scaling_series(config_path: Path, stack: BenchStack, config: Mapping[str, Any], base: int) -> dict[str, Any]:
    """Clean load and pipeline at 1x, 3x and 10x of ``base`` lessons."""
    points = []
    for factor in SCALING_FACTORS:
        lessons = base * factor
        LOGGER.info(f"bench: scaling {factor}x: seeding {lessons:,} lessons")
        reseed(stack.pg_dsn, lessons)
        phases = _phases(config_path, stack, ("pipeline", "clean"), config, empty_after=frozenset({"clean"}))
        clean, pipeline = phases["clean"], phases["pipeline"]
        points.append({
            "factor": factor, "lessons": lessons, "items": clean["items"],
            "clean_seconds": clean["seconds"], "clean_ms_per_item": round(1000 * clean["seconds"] / clean["items"], 4),
            "clean_peak_rss_mb": clean["peak_rss_mb"],
            "pipeline_seconds": pipeline["seconds"], "pipeline_rows": pipeline["source_rows"],
            "pipeline_us_per_row": round(1e6 * pipeline["seconds"] / pipeline["source_rows"], 2),
            "pipeline_peak_rss_mb": pipeline["peak_rss_mb"],
        })
    first, last = points[0], points[-1]
    return {
        "base_lessons": base, "points": points,
        "clean_rss_ratio": round(last["clean_peak_rss_mb"] / first["clean_peak_rss_mb"], 3),
        "pipeline_rss_ratio": round(last["pipeline_peak_rss_mb"] / first["pipeline_peak_rss_mb"], 3),
        "clean_slope_ratio": slope_ratio(points, "items", "clean_seconds"),
        "pipeline_slope_ratio": slope_ratio(points, "pipeline_rows", "pipeline_seconds"),
    }


def slope_ratio(points: list[dict], size: str, seconds: str) -> float | None:
    """Seconds per unit from 3x to 10x over seconds per unit from 1x to 3x: 1.0 when time grows linearly
    (fixed costs such as start-up cancel out), above 1 when it grows faster than the data."""
    (a, b, c) = points
    early = (b[seconds] - a[seconds]) / max(1, b[size] - a[size])
    late = (c[seconds] - b[seconds]) / max(1, c[size] - b[size])
    return round(late / early, 3) if early > 0 else None


# -------------------------------------------------------------------------------------------------
# Targets
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    ok: bool | None  # None: not measured in this run

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.name, "goal": self.goal, "measured": self.measured, "ok": self.ok}


def _rate(phase: Mapping[str, Any]) -> float:
    return phase["items"] / phase["seconds"] if phase["seconds"] else math.inf


def targets(document: Mapping[str, Any], price: Any) -> list[Target]:
    phases = document["phases"]
    clean, nochange, floor = phases["clean"], phases["nochange"], phases["floor"]
    baseline, baseline_nochange, pipeline = phases["baseline-clean"], phases["baseline-nochange"], phases["pipeline"]
    writes = clean["write_requests_by_table"]
    batches = sum(writes.get(name, 0) for name in _data_table_names(clean))
    ideal = sum(math.ceil(clean["tables"][name]["items"] / 25) for name in _data_table_names(clean))
    read_cost = nochange["rru"] * price.rru_per_million / 1e6
    write_cost = clean["wru"] * price.wru_per_million / 1e6
    # the baseline may have migrated a sample: its time for all the items, at its measured rate
    baseline_nochange_all = baseline_nochange["seconds"] * nochange["items"] / max(1, baseline_nochange["items"])
    return [
        Target("clean: BatchWriteItem requests to data tables", "<= 1.05 x sum of ceil(items/25)",
               f"{batches:,} for an ideal {ideal:,} ({batches / ideal if ideal else 0:.3f}x)", batches <= 1.05 * ideal),
        Target("no change: write requests to data tables", "0",
               f"{nochange['data_write_requests']}", nochange["data_write_requests"] == 0),
        Target("no change: read cost vs clean write cost", "<= 5%",
               f"${read_cost:.6f} ({nochange['rru']:g} RRU) vs ${write_cost:.6f} ({clean['wru']:g} WRU): "
               f"{100 * read_cost / write_cost if write_cost else 0:.2f}%", read_cost <= 0.05 * write_cost),
        Target("pipeline alone, one core", ">= 20,000 source rows/s",
               f"{pipeline['rows_per_second']:,.0f} rows/s", pipeline["rows_per_second"] >= 20_000),
        Target("clean vs server floor (wall time)", "<= 1.5x",
               f"{clean['seconds']:.2f} s vs {floor['seconds']:.2f} s: {clean['seconds'] / floor['seconds']:.2f}x",
               clean["seconds"] <= 1.5 * floor["seconds"]),
        Target("clean vs baseline (items/s)", ">= 3x",
               f"{_rate(clean):,.0f} vs {_rate(baseline):,.0f} items/s: {_rate(clean) / _rate(baseline):.1f}x",
               _rate(clean) >= 3 * _rate(baseline)),
        Target("no change vs baseline's no change (wall time, same items)", ">= 5x faster",
               f"{nochange['seconds']:.2f} s vs {baseline_nochange_all:.2f} s: "
               f"{baseline_nochange_all / nochange['seconds']:.1f}x", baseline_nochange_all >= 5 * nochange["seconds"]),
        *_scaling_targets(document.get("scaling")),
    ]


def _scaling_targets(scaling: Mapping[str, Any] | None) -> list[Target]:
    if not scaling:
        return [Target("peak RSS at 10x vs 1x lessons", "< 1.5x", "not measured (run with --scaling)", None),
                Target("wall time linear in the data", "linear", "not measured (run with --scaling)", None)]
    return [
        Target("peak RSS at 10x vs 1x lessons (clean load)", "< 1.5x", f"{scaling['clean_rss_ratio']:.2f}x",
               scaling["clean_rss_ratio"] < 1.5),
        Target("peak RSS at 10x vs 1x lessons (pipeline)", "< 1.5x", f"{scaling['pipeline_rss_ratio']:.2f}x",
               scaling["pipeline_rss_ratio"] < 1.5),
        _linearity("clean load", "item", scaling["clean_slope_ratio"]),
        _linearity("pipeline", "row", scaling["pipeline_slope_ratio"]),
    ]


def _linearity(phase: str, unit: str, ratio: float | None) -> Target:
    goal = f"s/{unit} 3x->10x within 1.25x of 1x->3x"
    if ratio is None:  # too small a data set: start-up noise outweighs the work
        return Target(f"wall time linear in the data ({phase})", goal, "not measurable: no growth from 1x to 3x", None)
    return Target(f"wall time linear in the data ({phase})", goal, f"{ratio}", ratio <= 1.25)


def _data_table_names(phase: Mapping[str, Any]) -> list[str]:
    return [name for name in phase["tables"] if not name.endswith("pni-cache-metadata")]


# -------------------------------------------------------------------------------------------------
# Output
# -------------------------------------------------------------------------------------------------


def _requests_text(requests: Mapping[str, int]) -> str:
    return ", ".join(f"{op} {count:,}" for op, count in sorted(requests.items())) or "-"


def phase_rows(document: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for name, phase in document["phases"].items():
        rate = phase.get("rows_per_second") if name == "pipeline" else _rate(phase)
        unit = "rows/s" if name == "pipeline" else "items/s"
        rows.append([name, f"{phase['items']:,}", f"{phase['seconds']:.2f}", f"{rate:,.0f} {unit}",
                     f"{phase.get('wru', 0):,g}", f"{phase.get('rru', 0):,g}", _requests_text(phase["requests"])
                     if "requests" in phase else "-", f"{phase['peak_rss_mb']:.0f}"])
    return rows


PHASE_HEADERS = ["phase", "items", "seconds", "throughput", "WRU", "RRU", "DynamoDB requests", "peak RSS MB"]


def target_rows(document: Mapping[str, Any]) -> list[list[Any]]:
    verdict = {True: "PASS", False: "MISS", None: "-"}
    return [[t["target"], t["goal"], t["measured"], verdict[t["ok"]]] for t in document["targets"]]


TARGET_HEADERS = ["target", "goal", "measured", "result"]


def scaling_rows(document: Mapping[str, Any]) -> list[list[Any]]:
    scaling = document.get("scaling") or {}
    return [[f"{p['factor']}x", f"{p['lessons']:,}", f"{p['items']:,}", f"{p['clean_seconds']:.2f}",
             f"{p['clean_ms_per_item']:.3f}", f"{p['clean_peak_rss_mb']:.0f}", f"{p['pipeline_seconds']:.2f}",
             f"{p['pipeline_us_per_row']:.1f}", f"{p['pipeline_peak_rss_mb']:.0f}"] for p in scaling.get("points", [])]


SCALING_HEADERS = ["size", "lessons", "items", "clean s", "clean ms/item", "clean RSS MB", "pipeline s",
                   "pipeline us/row", "pipeline RSS MB"]


if __name__ == "__main__":
    sys.exit(main())
