"""``inv bench`` on a tiny data set: the document holds every figure, and the user's stack is left alone.

Nothing here is timed: the figures' values depend on the machine; what is checked is that each one is
there and that the counts behind them (items, rows, requests) are the exact ones.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid

import psycopg2
import pytest

from pni_tasks import bench, localstack

pytestmark = pytest.mark.e2e

LESSONS, BASELINE_LESSONS = 20, 10


@pytest.fixture
def bench_database(pg_server_dsn):
    """A name for the benchmark's own database (it creates it), dropped after the test."""
    name = f"pni_bench_{uuid.uuid4().hex[:12]}"
    yield name
    localstack.drop_database(pg_server_dsn, name)


def bench_sql(runner, database: str, statement: str) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(localstack.database_dsn(runner.pg_dsn, database))) as conn, \
            conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall()


def test_bench_refuses_the_database_of_env_local(runner):
    result = runner.inv("bench", "--lessons", "1", "--database", runner.pg_dsn.rsplit("/", 1)[1], check=False)
    assert result.returncode == 2
    assert "is the database of PNI_PG_DSN: the benchmark drops its PNI tables" in result.stderr
    assert runner.sql("SELECT count(*) FROM lessons") == [(0,)]  # nothing seeded over it


def test_bench_json_holds_every_figure_and_leaves_the_local_stack_alone(runner, bench_database, tmp_path):
    output = tmp_path / "figures.json"
    document = runner.inv_json("bench", "--lessons", str(LESSONS), "--baseline-lessons", str(BASELINE_LESSONS),
                               "--scaling", "--database", bench_database, "--output", str(output), timeout=600)

    assert json.loads(output.read_text()) == document
    assert {"cpu_model", "cpus", "ram_gb", "python", "moto", "boto3", "postgresql"} <= set(document["machine"])
    assert document["source"] == {"lessons": LESSONS, "passages": 3 * LESSONS, "questions": 10 * LESSONS}
    phases = document["phases"]
    assert list(phases) == list(bench.MAIN_PHASES)
    for name, phase in phases.items():
        assert phase["seconds"] > 0 and phase["items"] > 0 and phase["peak_rss_mb"] > 0, name

    # the counts behind the rates: rows read by the pipeline, items and requests of each run
    (attached,) = bench_sql(runner, bench_database, "SELECT count(*) FROM questions WHERE passage_id IS NOT NULL")[0]
    (topics,) = bench_sql(runner, bench_database, "SELECT count(DISTINCT (topic, level)) FROM lessons")[0]
    assert phases["pipeline"]["source_rows"] == 14 * LESSONS + (3 * LESSONS + attached) + topics
    items = LESSONS + 3 * LESSONS + topics
    clean = phases["clean"]
    assert (clean["items"], clean["created"], clean["failed"]) == (items, items, 0)
    ideal = sum(math.ceil(clean["tables"][name]["items"] / 25) for name in bench.BUILTIN_TABLES)
    assert clean["data_write_requests"] == clean["requests"]["BatchWriteItem"] == ideal
    assert (phases["nochange"]["skipped"], phases["nochange"]["data_write_requests"]) == (items, 0)
    changed = phases["changed"]
    assert changed["questions_edited"] == 2  # 1% of 200
    assert changed["updated"] >= 1 and changed["updated"] + changed["skipped"] == items
    assert phases["floor"]["items"] == items and phases["floor"]["requests"] == {"BatchWriteItem": ideal}
    sampled = phases["baseline-clean"]["items"]
    assert BASELINE_LESSONS + topics < sampled < items  # the first lessons, their passages, every topic
    assert phases["baseline-clean"]["requests"]["GetItem"] == phases["baseline-clean"]["requests"]["PutItem"] == sampled
    assert phases["baseline-nochange"]["requests"] == {"GetItem": sampled}
    assert phases["baseline-nochange"]["different"] == 0

    scaling = document["scaling"]
    assert [point["lessons"] for point in scaling["points"]] == [2, 6, 20]
    assert scaling["clean_rss_ratio"] > 0 and scaling["pipeline_rss_ratio"] > 0
    # at 2 to 20 lessons start-up noise may hide any growth: then linearity is reported as not measurable
    assert all(scaling[ratio] is None or scaling[ratio] > 0 for ratio in ("clean_slope_ratio", "pipeline_slope_ratio"))
    targets = document["targets"]
    assert len(targets) == 11 and all(target["goal"] and target["measured"] for target in targets)
    assert [t["ok"] for t in targets[:2]] == [True, True]  # batching and no-change writes are exact, not timed
    assert all(t["ok"] in (True, False) for t in targets[2:9])

    # the benchmark ran on its own moto server, now stopped: the user's DynamoDB got no table
    assert runner.dynamodb().list_tables()["TableNames"] == []
    assert not (runner.home / "state" / "bench" / "dynamodb.pid").exists()
