"""The local stack (embedded PostgreSQL, moto's server), the sample data and the ``inv local.*`` tasks."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import boto3
import psycopg2
import pytest
from conftest import free_port
from invoke import Config, Context
from invoke.exceptions import Exit

from pni_tasks import localstack, sampledata
from pni_tasks.errors import ConfigError, Interrupted, PniError
from pni_tasks.tasks import local as local_tasks
from pni_tasks.tasks._cli import user_errors

ARABIC = re.compile("[\u0600-\u06ff]")
HEBREW = re.compile("[\u0590-\u05ff]")
EMOJI = re.compile("[\U0001f300-\U0001faff]")


def sql(dsn: str, statement: str, params: tuple | None = None) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def scalar(dsn: str, statement: str) -> object:
    return sql(dsn, statement)[0][0]


def process_gone(pid: int) -> bool:
    return not localstack.pid_alive(pid)


# -------------------------------------------------------------------------------------------------
# Embedded PostgreSQL and moto's server
# -------------------------------------------------------------------------------------------------


def test_postgres_up_twice_is_harmless_and_down_stops_it(tmp_state_dir):
    port = free_port()
    try:
        dsn = localstack.postgres_up(tmp_state_dir, port)
        assert dsn == f"postgresql://postgres@127.0.0.1:{port}/postgres"
        pid = localstack.status(tmp_state_dir, port, free_port())[0]["pid"]
        assert localstack.postgres_up(tmp_state_dir, port) == dsn
        row = localstack.status(tmp_state_dir, port, free_port())[0]
        assert (row["name"], row["state"], row["pid"]) == ("postgresql", "running", pid)
        assert scalar(dsn, "SELECT 40 + 2") == 42
        assert scalar(dsn, "SHOW listen_addresses") == "127.0.0.1"
        assert scalar(dsn, "SHOW fsync") == "off"
    finally:
        stopped = localstack.postgres_down(tmp_state_dir)
    assert stopped is True
    assert process_gone(pid)
    assert not localstack.port_answers(port)
    assert localstack.status(tmp_state_dir, port, free_port())[0]["state"] == "stopped"
    assert localstack.postgres_down(tmp_state_dir) is False


def test_postgres_up_on_another_port_than_the_running_one_is_refused(tmp_state_dir):
    port = free_port()
    try:
        localstack.postgres_up(tmp_state_dir, port)
        with pytest.raises(PniError, match="already runs on port"):
            localstack.postgres_up(tmp_state_dir, free_port())
    finally:
        localstack.postgres_down(tmp_state_dir)


def test_dynamodb_up_twice_is_harmless_and_down_stops_it(tmp_state_dir):
    port = free_port()
    try:
        endpoint = localstack.dynamodb_up(tmp_state_dir, port)
        assert endpoint == f"http://127.0.0.1:{port}"
        pid = localstack.status(tmp_state_dir, free_port(), port)[1]["pid"]
        assert localstack.dynamodb_up(tmp_state_dir, port) == endpoint
        row = localstack.status(tmp_state_dir, free_port(), port)[1]
        assert (row["name"], row["state"], row["pid"]) == ("dynamodb", "running", pid)
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        client.create_table(TableName="pni-probe", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
        assert client.list_tables()["TableNames"] == ["pni-probe"]
    finally:
        stopped = localstack.dynamodb_down(tmp_state_dir)
    assert stopped is True
    assert process_gone(pid)
    assert not localstack.port_answers(port)
    assert localstack.status(tmp_state_dir, free_port(), port)[1]["state"] == "stopped"
    assert localstack.dynamodb_down(tmp_state_dir) is False


def test_a_stale_dynamodb_pid_file_is_replaced(tmp_state_dir):
    port = free_port()
    (tmp_state_dir / "dynamodb.pid").write_text(f"999999999\n{port}\n")
    assert localstack.status(tmp_state_dir, free_port(), port)[1]["detail"].startswith("stale pid file")
    try:
        localstack.dynamodb_up(tmp_state_dir, port)
        assert localstack.status(tmp_state_dir, free_port(), port)[1]["state"] == "running"
    finally:
        assert localstack.dynamodb_down(tmp_state_dir) is True


def test_a_busy_port_is_a_one_line_error(tmp_state_dir):
    with socket_listening() as port, pytest.raises(PniError, match=f"port {port} .* in use") as error:
        localstack.dynamodb_up(tmp_state_dir, port)
    assert "\n" not in str(error.value)


@contextlib.contextmanager
def socket_listening() -> Iterator[int]:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_with_pni_pg_dsn_no_postgres_is_started_and_status_says_external(tmp_state_dir, pg_dsn, monkeypatch):
    monkeypatch.setenv("PNI_PG_DSN", pg_dsn)
    settings = {"state_dir": str(tmp_state_dir), "pg_port": free_port(), "dynamodb_port": free_port()}
    try:
        stack = localstack.up(settings, "ignored")
        assert stack == {"pg_dsn": pg_dsn, "endpoint_url": f"http://127.0.0.1:{settings['dynamodb_port']}"}
        rows = localstack.status(tmp_state_dir, settings["pg_port"], settings["dynamodb_port"])
        assert [(row["name"], row["state"]) for row in rows] == [("postgresql", "external"), ("dynamodb", "running")]
        assert not (tmp_state_dir / "pgdata").exists()
    finally:
        assert localstack.down(settings) == ["dynamodb"]


def test_ensure_database_creates_once_and_returns_its_dsn(pg_server_dsn):
    name = f"pni_test_{uuid.uuid4().hex[:8]}"
    try:
        dsn = localstack.ensure_database(pg_server_dsn, name)
        assert localstack.ensure_database(pg_server_dsn, name) == dsn
        assert scalar(dsn, "SELECT current_database()") == name
        assert scalar(dsn, "SHOW server_encoding") == "UTF8"
    finally:
        localstack.drop_database(pg_server_dsn, name)
    assert sql(pg_server_dsn, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == []


def test_database_dsn_replaces_only_the_database():
    assert localstack.database_dsn("postgresql://u@127.0.0.1:5/postgres?sslmode=disable", "pni") == \
        "postgresql://u@127.0.0.1:5/pni?sslmode=disable"
    assert "dbname=pni" in localstack.database_dsn("host=127.0.0.1 port=5 dbname=postgres", "pni")
    assert "secret" not in localstack.describe_dsn("postgresql://u:secret@h:5/db")


# -------------------------------------------------------------------------------------------------
# Sample data
# -------------------------------------------------------------------------------------------------


@pytest.fixture
def make_pni_db(pg_server_dsn: str) -> Iterator:
    """Extra databases with the contract schema, for tests that compare two seedings."""
    names: list[str] = []

    def make() -> str:
        names.append(f"pni_test_{uuid.uuid4().hex[:12]}")
        dsn = localstack.ensure_database(pg_server_dsn, names[-1])
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            sampledata.create_schema(conn)
        return dsn

    yield make
    for name in names:
        localstack.drop_database(pg_server_dsn, name)


def seeded(dsn: str, lessons: int, **kwargs) -> dict[str, int]:
    with contextlib.closing(psycopg2.connect(dsn)) as conn:
        return sampledata.seed(conn, lessons, **kwargs)


def dump(dsn: str) -> dict[str, list[tuple]]:
    """Every row as (id, lesson id, its text form): exact, and NaN equals NaN there."""
    lesson_of = {"lessons": "id", "passages": "lesson_id", "questions": "lesson_id"}
    return {table: sql(dsn, f"SELECT id, {lesson_of[table]}, t::text FROM {table} t ORDER BY id")  # noqa: S608
            for table in sampledata.TABLES}


def test_seed_is_reproducible(make_pni_db):
    first, second, other = make_pni_db(), make_pni_db(), make_pni_db()
    seeded(first, 25, nan=True, oversize=True)
    seeded(second, 25, nan=True, oversize=True)
    seeded(other, 25, seed=43, nan=True, oversize=True)
    assert dump(first) == dump(second)
    assert dump(first) != dump(other)


def test_the_extra_lessons_leave_the_regular_rows_unchanged(make_pni_db):
    plain, extras = make_pni_db(), make_pni_db()
    seeded(plain, 12)
    seeded(extras, 12, nan=True, oversize=True)
    regular = {table: [row for row in rows if row[1] <= 12] for table, rows in dump(extras).items()}
    assert regular == dump(plain)


def test_seed_counts_are_as_asked(pni_db):
    counts = seeded(pni_db, 40, passages_per_lesson=2, questions_per_lesson=7)
    assert counts == {"lessons": 40, "passages": 80, "questions": 280}
    with contextlib.closing(psycopg2.connect(pni_db)) as conn:
        assert sampledata.table_counts(conn) == counts


CASES = {
    "NULL summary": "SELECT count(*) FROM lessons WHERE summary IS NULL",
    "'' summary": "SELECT count(*) FROM lessons WHERE summary = ''",
    "NULL metadata": "SELECT count(*) FROM lessons WHERE metadata IS NULL",
    "'' metadata": "SELECT count(*) FROM lessons WHERE metadata = ''",
    "valid metadata": "SELECT count(*) FROM lessons WHERE metadata LIKE '{\"legacy_id\"%'",
    "invalid metadata": "SELECT count(*) FROM lessons WHERE metadata = '{\"broken\": '",
    "NULL content": "SELECT count(*) FROM lessons WHERE content IS NULL",
    "2.50 difficulty": "SELECT count(*) FROM lessons WHERE difficulty::text = '2.50'",
    "2.50 inside content": "SELECT count(*) FROM lessons WHERE content::text LIKE '%2.50%'",
    "NULL difficulty": "SELECT count(*) FROM lessons WHERE difficulty IS NULL",
    "NULL tags": "SELECT count(*) FROM lessons WHERE tags IS NULL",
    "empty tags": "SELECT count(*) FROM lessons WHERE tags = '{}'",
    "duplicate tags": "SELECT count(*) FROM lessons WHERE cardinality(tags) > "
                      "(SELECT count(DISTINCT t) FROM unnest(tags) t)",
    "NULL duration": "SELECT count(*) FROM lessons WHERE duration_minutes IS NULL",
    "lesson without questions": "SELECT count(*) FROM lessons l WHERE NOT EXISTS "
                                "(SELECT 1 FROM questions q WHERE q.lesson_id = l.id)",
    "lesson without passages": "SELECT count(*) FROM lessons l WHERE NOT EXISTS "
                               "(SELECT 1 FROM passages p WHERE p.lesson_id = l.id)",
    "body > 10 KB": "SELECT count(*) FROM passages WHERE octet_length(body) > 10240",
    "passage order differs from id order": "SELECT count(*) FROM passages a JOIN passages b "
                                           "ON a.lesson_id = b.lesson_id AND a.id < b.id AND a.position > b.position",
    "NULL passage columns": "SELECT count(*) FROM passages WHERE title IS NULL AND word_count IS NULL "
                            "AND reading_level IS NULL AND source IS NULL",
    "decimal in source": "SELECT count(*) FROM passages WHERE (source->>'rating')::numeric <> "
                         "trunc((source->>'rating')::numeric)",
    "question with NULL passage_id": "SELECT count(*) FROM questions WHERE passage_id IS NULL",
    "question positions tied": "SELECT count(*) FROM (SELECT lesson_id, position FROM questions "
                               "GROUP BY 1, 2 HAVING count(*) > 1) t",
    "NULL choices": "SELECT count(*) FROM questions WHERE choices IS NULL",
    "choices of key/text": "SELECT count(*) FROM questions WHERE choices->0 ? 'key' AND choices->0 ? 'text'",
    "NULL question columns": "SELECT count(*) FROM questions WHERE correct_answer IS NULL "
                             "AND explanation IS NULL AND points IS NULL",
    "2.50 points": "SELECT count(*) FROM questions WHERE points::text = '2.50'",
    "microseconds": "SELECT count(*) FROM lessons WHERE extract(microseconds FROM created_at)::int % 1000000 <> 0",
}
NAN = "SELECT count(*) FROM lessons WHERE difficulty = 'NaN'"
OVERSIZE = ("SELECT count(*) FROM (SELECT lesson_id FROM questions GROUP BY 1 "
            "HAVING sum(octet_length(prompt)) > 400 * 1024) t")


def unicode_texts(dsn: str) -> str:
    rows = sql(dsn, "SELECT title || ' ' || coalesce(summary, '') FROM lessons UNION ALL "
                    "SELECT prompt FROM questions UNION ALL SELECT body FROM passages")
    return "\n".join(row[0] for row in rows)


def test_every_contract_case_is_present(pni_db):
    seeded(pni_db, 30)
    missing = [case for case, query in CASES.items() if not scalar(pni_db, query)]
    assert missing == []
    texts = unicode_texts(pni_db)
    assert EMOJI.search(texts) and ARABIC.search(texts) and HEBREW.search(texts)
    assert scalar(pni_db, NAN) == 0
    assert scalar(pni_db, OVERSIZE) == 0


def test_nan_and_oversize_lessons_only_when_asked(pni_db):
    counts = seeded(pni_db, 10, nan=True, oversize=True)
    assert counts["lessons"] == 12
    assert scalar(pni_db, NAN) == 1
    assert scalar(pni_db, OVERSIZE) == 1
    assert sql(pni_db, "SELECT difficulty FROM lessons WHERE id = 11")[0][0].is_nan()


def test_decimals_keep_their_scale(pni_db):
    seeded(pni_db, 8)
    assert sql(pni_db, "SELECT difficulty FROM lessons WHERE id = 2")[0][0] == Decimal("2.50")
    assert str(sql(pni_db, "SELECT content->'scoring'->'bonus' FROM lessons WHERE id = 2")[0][0]) == "2.5"
    assert scalar(pni_db, "SELECT (content->'scoring'->'bonus')::text FROM lessons WHERE id = 2") == "2.50"


def test_bump_questions_changes_that_fraction(pni_db):
    seeded(pni_db, 20)
    before = dict(sql(pni_db, "SELECT id, prompt FROM questions"))
    with contextlib.closing(psycopg2.connect(pni_db)) as conn:
        changed = sampledata.bump_questions(conn, 0.05)
    after = dict(sql(pni_db, "SELECT id, prompt FROM questions"))
    assert changed == round(len(before) * 0.05) == sum(before[i] != after[i] for i in before)


def test_create_schema_with_drop_empties_the_tables(pni_db):
    seeded(pni_db, 3)
    with contextlib.closing(psycopg2.connect(pni_db)) as conn:
        sampledata.create_schema(conn, drop=True)
        assert sampledata.table_counts(conn) == {"lessons": 0, "passages": 0, "questions": 0}


# -------------------------------------------------------------------------------------------------
# Tasks
# -------------------------------------------------------------------------------------------------


def test_user_errors_turns_pni_errors_and_ctrl_c_into_exits():
    def failing(error: BaseException):
        raise error

    wrapped = user_errors(failing)
    with pytest.raises(Exit) as exit_info:
        wrapped(ConfigError("setting x is bad: fix it"))
    assert (exit_info.value.message, exit_info.value.code) == ("error: setting x is bad: fix it", 2)
    with pytest.raises(Exit) as exit_info:
        wrapped(Interrupted("stopped"))
    assert exit_info.value.code == 130
    with pytest.raises(Exit) as exit_info:
        wrapped(KeyboardInterrupt())
    assert (exit_info.value.message, exit_info.value.code) == ("interrupted", 130)


def task_context(state_dir: Path, database: str) -> Context:
    local = {"state_dir": str(state_dir), "pg_port": free_port(), "dynamodb_port": free_port()}
    return Context(Config(overrides={"pni": {"local": local, "envs": {"local": {"database": database}}}}))


def test_local_tasks_seed_refuse_to_reseed_and_reset(pni_db, tmp_state_dir, monkeypatch, capsys):
    monkeypatch.setenv("PNI_PG_DSN", pni_db)  # the session's server: no second PostgreSQL
    c = task_context(tmp_state_dir, "pni")
    try:
        local_tasks.seed(c, lessons=5)
        assert "questions  50" in capsys.readouterr().out
        with pytest.raises(Exit, match="already holds PNI data .* --reset") as exit_info:
            local_tasks.seed(c, lessons=5)
        assert exit_info.value.code == 1
        local_tasks.seed(c, lessons=3, reset=True, nan=True)
        assert scalar(pni_db, "SELECT count(*) FROM lessons") == 4
        local_tasks.status(c)
        assert re.search(r"dynamodb\s+running", capsys.readouterr().out)
    finally:
        local_tasks.down(c)
    assert "stopped: dynamodb" in capsys.readouterr().out


def test_local_collection_has_the_four_tasks():
    assert sorted(local_tasks.ns.task_names) == ["down", "seed", "status", "up"]
    assert set(local_tasks.seed.help) == {"lessons", "seed", "nan", "oversize", "reset"}
