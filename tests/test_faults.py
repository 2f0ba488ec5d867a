"""Faults a run survives: DynamoDB throttling, UnprocessedItems and 5xx, a dropped PostgreSQL
connection, a killed process and Ctrl-C.

After each fault the same command run again completes, ``verify`` passes, DynamoDB holds exactly
the PostgreSQL keys, the statistics of the rerun add up (created + updated + skipped = items,
nothing counted twice) and the run that met the fault is recorded as ``failed`` or
``interrupted`` in ``pni-cache-metadata``, never left ``running``.

DynamoDB faults are injected in-process with botocore's event system on the session's own
client: a ``before-call`` handler that returns a response short-circuits the HTTP call
(``BaseClient._make_api_call`` uses the first non-None ``before-call`` response instead of
sending), a ``before-send`` handler that returns a response replaces the server's answer but
still goes through botocore's retry handler, and an ``after-call`` handler may rewrite the
parsed response. moto itself never returns ``UnprocessedItems``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import invoke
import pytest
from botocore.awsrequest import AWSResponse
from invhelp import INV, REPO, items

from pni_tasks import engine
from pni_tasks.engine import LoadOptions
from pni_tasks.model import key_text
from pni_tasks.session import Session

pytestmark = pytest.mark.e2e
DATA_TABLES = ("pni-lessons", "pni-passages", "pni-topics")


# -------------------------------------------------------------------------------------------------
# Helpers: the truth in PostgreSQL and DynamoDB
# -------------------------------------------------------------------------------------------------


def expected_counts(runner) -> dict[str, int]:
    """How many items each data table must hold: one per lesson, per passage, per (topic, level)."""
    return {
        "pni-lessons": runner.sql("SELECT count(*) FROM lessons")[0][0],
        "pni-passages": runner.sql("SELECT count(*) FROM passages")[0][0],
        "pni-topics": runner.sql("SELECT count(*) FROM (SELECT DISTINCT topic, level FROM lessons) t")[0][0],
    }


def assert_dynamodb_matches_postgres(runner) -> None:
    """Every lesson and passage id of PostgreSQL is stored once, and nothing else is."""
    client = runner.dynamodb()
    lesson_ids = sorted(int(i["lesson_id"]) for i in items(client, "pni-lessons"))
    passage_ids = sorted(int(i["passage_id"]) for i in items(client, "pni-passages"))
    assert lesson_ids == [row[0] for row in runner.sql("SELECT id FROM lessons ORDER BY id")]
    assert passage_ids == [row[0] for row in runner.sql("SELECT id FROM passages ORDER BY id")]
    assert len(items(client, "pni-topics")) == expected_counts(runner)["pni-topics"]


def run_records(runner) -> list[dict]:
    """The run records of env local, oldest first."""
    found = [i for i in items(runner.dynamodb(), "pni-cache-metadata") if i["pk"] == "run"]
    return sorted(found, key=lambda record: record["sk"])


def item_count(runner, table: str) -> int:
    """DynamoDB's live item count (moto computes it on every DescribeTable); 0 while the table is missing."""
    client = runner.dynamodb()
    try:
        return int(client.describe_table(TableName=table)["Table"]["ItemCount"])
    except client.exceptions.ResourceNotFoundException:
        return 0


def settled_item_count(runner, table: str) -> int:
    """The item count once it stops moving: moto finishes a request whose client was killed mid-way."""
    count = item_count(runner, table)
    while True:
        time.sleep(0.3)
        again = item_count(runner, table)
        if again == count:
            return count
        count = again


def by_table(document: dict) -> dict[str, dict]:
    return {t["table"]: t for t in document["tables"]}


def assert_rerun_adds_up(document: dict, expected: dict[str, int]) -> None:
    """created + updated + skipped = the items PostgreSQL gives, per table, with nothing failed."""
    tables = by_table(document)
    for table, count in expected.items():
        stats = tables[table]
        assert stats["failed"] == 0, stats["failures"]
        assert stats["created"] + stats["updated"] + stats["skipped"] == stats["items"] == count, stats


# -------------------------------------------------------------------------------------------------
# In-process sessions with botocore faults
# -------------------------------------------------------------------------------------------------


@pytest.fixture
def make_session(runner, monkeypatch) -> Callable[..., Session]:
    """``make_session(**settings)``: a Session of env local on this test's database and moto, built
    from the project's invoke.yaml exactly as ``inv`` builds it, with ``settings`` overriding pni.*."""
    monkeypatch.setenv("PNI_PG_DSN", runner.pg_dsn)

    def make(**settings: Any) -> Session:
        config = invoke.Config(project_location=str(REPO))
        config.load_project()
        config.pni.envs.local.endpoint_url = runner.endpoint
        for name, value in settings.items():
            config.pni[name] = value
        return Session.from_config(config.pni, "local")

    return make


def _error(code: str, status: int) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": f"injected by the test: {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}}


class _Body:
    """The ``raw`` of an AWSResponse: botocore reads it through ``stream()``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any):
        yield self.data


class BatchWriteFaults:
    """Injects one kind of fault into the first ``times`` BatchWriteItem calls that write ``table``
    (``times=None``: every call), on one client, thread-safely (the writers share the client).

    kinds:
      ``throttle``    ProvisionedThroughputExceededException (HTTP 400) instead of calling the server
      ``unprocessed`` the server gets only the first half of the batch; the second half comes back
                      as UnprocessedItems, as DynamoDB returns it under load
      ``http500``     the server's answer replaced by HTTP 500 InternalServerError, through botocore's
                      own retry handler (``max_attempts``) and then the writer's loop
    """

    def __init__(self, client: Any, table: str, kind: str, times: int | None) -> None:
        self.table, self.kind, self.times = table, kind, times
        self.calls = 0  # BatchWriteItem calls for the table (the writer's attempts)
        self.injected = 0
        self.items_per_call: list[int] = []
        self.withheld = 0
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.BatchWriteItem", self._choose)
        if kind == "throttle":
            events.register("before-call.dynamodb.BatchWriteItem", self._throttle)
        elif kind == "unprocessed":
            events.register("after-call.dynamodb.BatchWriteItem", self._hand_back)
        elif kind == "http500":
            events.register("before-send.dynamodb.BatchWriteItem", self._http_500)
        else:
            raise ValueError(kind)

    def _take(self) -> bool:
        with self._lock:
            if self.times is not None and self.injected >= self.times:
                return False
            self.injected += 1
            return True

    def _choose(self, params: dict, context: dict, **_: Any) -> None:
        requests = params["RequestItems"].get(self.table)
        if requests is None:
            return
        with self._lock:
            self.calls += 1
            self.items_per_call.append(len(requests))
        if self.kind == "http500":
            context["pni_test_table"] = True  # the fault is decided per HTTP attempt, in before-send
            return
        if self.kind == "unprocessed" and len(requests) < 2:
            return  # half of one item is nothing: only batches of two or more get split
        if not self._take():
            return
        context["pni_test_fault"] = True
        if self.kind == "unprocessed":
            half = len(requests) // 2
            context["pni_test_withheld"] = requests[half:]
            params["RequestItems"][self.table] = requests[:half]
            with self._lock:
                self.withheld += len(requests) - half

    def _throttle(self, context: dict, **_: Any):
        if not context.get("pni_test_fault"):
            return None
        http = AWSResponse("https://dynamodb.invalid/", 400, {}, _Body(b"{}"))
        return http, _error("ProvisionedThroughputExceededException", 400)

    def _hand_back(self, parsed: dict, context: dict, **_: Any) -> None:
        withheld = context.get("pni_test_withheld")
        if withheld:
            parsed.setdefault("UnprocessedItems", {}).setdefault(self.table, []).extend(withheld)

    def _http_500(self, request: Any, **_: Any):
        # every HTTP attempt, botocore's own retries included, may get a 500
        if not request.context.get("pni_test_table") or not self._take():
            return None
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                           "message": "injected by the test: internal server error"}).encode()
        return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body))


def stats_of(result, table: str):
    return next(stats for stats in result.tables if stats.table == table)


@pytest.mark.parametrize("kind", ["throttle", "unprocessed", "http500"])
def test_transient_dynamodb_faults_are_retried_until_every_item_is_written(runner, make_session, kind):
    runner.seed(30)
    expected = expected_counts(runner)
    session = make_session(max_attempts=2)  # botocore retries a 500 once itself, then the writer's loop
    faults = BatchWriteFaults(session.client, "pni-lessons", kind, times=3)

    run, result = engine.load(session, LoadOptions(strategy="clean"))

    assert result.ok and result.status == "succeeded"
    lessons = stats_of(result, "pni-lessons")
    assert (lessons.created, lessons.failed) == (expected["pni-lessons"], 0)
    assert faults.injected == 3
    batches = -(-expected["pni-lessons"] // 25)
    sent = lessons.requests["BatchWriteItem"]  # HTTP requests really sent (the request counter)
    if kind == "throttle":
        # three attempts answered "throttled" without reaching the server, each retried by the writer
        assert faults.calls == batches + 3 and sent == batches
    elif kind == "unprocessed":
        # each retry sent only what the server had left unprocessed, never an item twice
        assert faults.calls == sent == batches + 3
        assert sum(faults.items_per_call) == expected["pni-lessons"] + faults.withheld
    else:
        # a 500 is retried by botocore (counted: every attempt is a request) and then by the writer
        assert sent == batches + 3 and faults.calls > batches
    assert_dynamodb_matches_postgres(runner)

    rerun_run, rerun = engine.load(make_session(), LoadOptions())
    assert rerun.ok
    assert_rerun_adds_up(rerun.as_dict(rerun_run), expected)
    assert stats_of(rerun, "pni-lessons").skipped == expected["pni-lessons"]
    assert all(result.ok for result in engine.verify(make_session()))
    assert [r["status"] for r in run_records(runner)] == ["succeeded", "succeeded"]


def test_throttling_that_never_stops_fails_items_by_key_and_a_rerun_creates_them(runner, make_session):
    runner.seed(30)
    expected = expected_counts(runner)
    session = make_session(write_deadline_seconds=1)
    faults = BatchWriteFaults(session.client, "pni-lessons", "throttle", times=None)

    started = time.monotonic()
    run, result = engine.load(session, LoadOptions())
    assert time.monotonic() - started < 30  # gave up at the deadline instead of retrying forever

    assert not result.ok and result.status == "failed"
    lessons = stats_of(result, "pni-lessons")
    assert (lessons.created, lessons.failed) == (0, expected["pni-lessons"])
    assert faults.calls > 2  # retried before giving up
    lesson_ids = [row[0] for row in runner.sql("SELECT id FROM lessons ORDER BY id")]
    failed_keys = sorted(failure.key for failure in result.failures)
    assert failed_keys == sorted(f"lesson_id={key_text((i,))}" for i in lesson_ids)
    assert all("ProvisionedThroughputExceededException" in f.line() and f.line().startswith("pni-lessons ")
               for f in result.failures)
    # the other tables went on
    assert stats_of(result, "pni-passages").created == expected["pni-passages"]
    assert item_count(runner, "pni-lessons") == 0
    (record,) = run_records(runner)
    assert record["status"] == "failed" and record["run_id"] == run.run_id
    assert len(record["failed_items"]) == expected["pni-lessons"]

    rerun_run, rerun = engine.load(make_session(), LoadOptions())
    assert rerun.ok
    assert_rerun_adds_up(rerun.as_dict(rerun_run), expected)
    # the failed items are created, not taken for written: nothing of them reached the manifest
    assert stats_of(rerun, "pni-lessons").created == expected["pni-lessons"]
    assert stats_of(rerun, "pni-passages").skipped == expected["pni-passages"]
    assert_dynamodb_matches_postgres(runner)
    assert all(result.ok for result in engine.verify(make_session()))


# -------------------------------------------------------------------------------------------------
# The real inv command: PostgreSQL dropped, SIGKILL, Ctrl-C
# -------------------------------------------------------------------------------------------------

# Drops the run's PostgreSQL connection while lessons are streamed, from inside the run: the
# transformer of the 25th lesson terminates every backend named pni-migrate of this database.
PG_KILLER = textwrap.dedent('''
    import os

    import psycopg2

    from pni_tasks import hookimpl

    lessons_seen = 0


    @hookimpl(tryfirst=True)
    def pni_transform(table, group):
        global lessons_seen
        if table.name == "pni-lessons":
            lessons_seen += 1
            if lessons_seen == 25:
                conn = psycopg2.connect(os.environ["PNI_PG_DSN"], application_name="pni-test-killer")
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = 'pni-migrate' AND datname = current_database()")
                conn.close()
        return None  # not this plugin's table to transform: the built-in transformer goes on
''')

# Makes the lessons table take a few seconds, so that a signal lands in the middle of the load.
SLOW_LESSONS = textwrap.dedent('''
    import time

    from pni_tasks import hookimpl


    @hookimpl(tryfirst=True)
    def pni_transform(table, group):
        if table.name == "pni-lessons":
            time.sleep(0.05)
        return None
''')


def plugin_folder(tmp_path: Path, name: str, code: str) -> Path:
    folder = tmp_path / f"plugins_{name}"
    folder.mkdir()
    (folder / f"{name}.py").write_text(code)
    return folder


def last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


def rerun_and_verify(runner, expected: dict[str, int]) -> dict:
    """The same command again (incremental), then ``inv verify``: both pass; returns the load document."""
    document = runner.inv_json("load", "--env=local")
    assert document["status"] == "succeeded"
    assert_rerun_adds_up(document, expected)
    assert runner.inv_json("verify", "--env=local")["ok"] is True
    assert_dynamodb_matches_postgres(runner)
    return document


def test_postgres_connection_dropped_mid_read_fails_in_one_line_and_a_rerun_completes(runner, tmp_path):
    runner.seed(60)
    expected = expected_counts(runner)
    env = runner.environ(INVOKE_PNI_BATCH_SIZE="10",
                         INVOKE_PNI_PLUGINS_FOLDER=str(plugin_folder(tmp_path, "pg_killer", PG_KILLER)))

    failed = runner.inv("load", "--env=local", env=env, check=False)

    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    line = last_line(failed.stderr)
    assert line.startswith("error: stage 04 load failed: lost the connection to PostgreSQL"), line
    assert "rerun the command" in line
    (record,) = run_records(runner)
    assert record["status"] == "failed" and "lost the connection to PostgreSQL" in record["error"]
    written = item_count(runner, "pni-lessons")
    assert 0 < written < expected["pni-lessons"]  # it did fail in the middle of the table

    document = rerun_and_verify(runner, expected)
    lessons = by_table(document)["pni-lessons"]
    # what the failed run wrote is known (its manifest was saved) and skipped, not written again
    assert (lessons["created"], lessons["updated"], lessons["skipped"]) == \
        (expected["pni-lessons"] - written, 0, written)


def start_slow_load(runner, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    env = runner.environ(INVOKE_PNI_WRITERS="1",
                         INVOKE_PNI_PLUGINS_FOLDER=str(plugin_folder(tmp_path, "slow", SLOW_LESSONS)))
    process = subprocess.Popen([*INV, "load", "--env=local", *args], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return process, env


def wait_until_lessons_are_being_written(runner, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while item_count(runner, "pni-lessons") == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no lesson was written in time"
        time.sleep(0.05)
    assert [r["status"] for r in run_records(runner)] == ["running"]


def test_killed_process_is_recorded_interrupted_and_a_rerun_skips_what_was_written(runner, tmp_path):
    runner.seed(60)
    expected = expected_counts(runner)
    process, _ = start_slow_load(runner, tmp_path, "--clean")
    try:
        wait_until_lessons_are_being_written(runner, process)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    written = settled_item_count(runner, "pni-lessons")
    assert 0 < written < expected["pni-lessons"]
    assert [r["status"] for r in run_records(runner)] == ["running"]  # nobody could finish the record

    document = rerun_and_verify(runner, expected)
    killed, rerun = run_records(runner)[:2]
    assert killed["status"] == "interrupted" and "killed or crashed" in killed["error"]
    assert rerun["status"] == "succeeded"
    # what the killed run wrote was found in the table (not trusted from a manifest) and skipped
    lessons = by_table(document)["pni-lessons"]
    assert (lessons["created"], lessons["updated"], lessons["skipped"]) == \
        (expected["pni-lessons"] - written, 0, written)
    assert by_table(document)["pni-passages"]["created"] == expected["pni-passages"]


def test_ctrl_c_exits_130_in_one_line_records_interrupted_and_a_rerun_completes(runner, tmp_path):
    runner.seed(60)
    expected = expected_counts(runner)
    process, _ = start_slow_load(runner, tmp_path, "--clean")
    try:
        wait_until_lessons_are_being_written(runner, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    line = last_line(stderr)
    assert line.startswith("error: stage 04 load interrupted"), line
    (record,) = run_records(runner)
    assert record["status"] == "interrupted"
    written = item_count(runner, "pni-lessons")

    document = rerun_and_verify(runner, expected)
    lessons = by_table(document)["pni-lessons"]
    assert (lessons["created"], lessons["updated"], lessons["skipped"]) == \
        (expected["pni-lessons"] - written, 0, written)
