"""Security: SQL is composed from identifiers and parameters, secrets never leave the process, and
a protected env (prod, or ``protected: true``) loses data only when the user confirms.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from invhelp import INV, REPO, items, table_names
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

pytestmark = pytest.mark.e2e


def last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


# -------------------------------------------------------------------------------------------------
# SQL injection through a name in the configuration
# -------------------------------------------------------------------------------------------------

HOSTILE_NAME = 'glossary"; DROP TABLE lessons; --'

# A third party's table whose source table is named in its settings (pni.plugin_settings.hostile.table).
HOSTILE_PLUGIN = textwrap.dedent('''
    from psycopg2 import sql

    from pni_tasks import hookimpl
    from pni_tasks.items import row_attributes
    from pni_tasks.model import KeyAttribute, SourceGroup, TableSpec

    TABLE = TableSpec(name="pni-hostile", hash_key=KeyAttribute("term", "S"),
                      description="the terms of the table named in the plugin's settings")


    @hookimpl
    def pni_register_tables(register):
        register(TABLE)


    @hookimpl
    def pni_read_source(table, source, settings):
        if table.name != TABLE.name:
            return None
        name = settings["table"]
        source.row_count(name)  # a query the tool composes from the name
        query = sql.SQL("SELECT term, definition FROM {} ORDER BY term").format(sql.Identifier(name))
        return (SourceGroup(key=f"term={row['term']}", data=row) for row in source.stream(query))


    @hookimpl
    def pni_transform(table, group):
        if table.name != TABLE.name:
            return None
        return [row_attributes(group.data)]
''')


@pytest.fixture
def hostile_env(runner, tmp_path: Path) -> tuple[dict[str, str], str]:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "hostile.py").write_text(HOSTILE_PLUGIN)
    config = tmp_path / "hostile.yaml"
    config.write_text(json.dumps({"pni": {"tables": ["pni-hostile"],
                                          "plugin_settings": {"hostile": {"table": HOSTILE_NAME}}}}))
    return runner.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder)), str(config)


def test_hostile_table_name_that_does_not_exist_fails_cleanly_and_drops_nothing(runner, hostile_env):
    runner.seed(3)
    env, config = hostile_env
    result = runner.inv("-f", config, "load", "--env=local", env=env, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = last_line(result.stderr)
    assert line.startswith("error: stage 04 load failed: PostgreSQL"), line
    assert f'relation "{HOSTILE_NAME}" does not exist' in line  # the whole name was one (quoted) identifier
    assert runner.sql("SELECT count(*) FROM lessons")[0][0] == 3


def test_hostile_table_name_that_exists_is_read_as_a_table_name(runner, hostile_env):
    runner.seed(3)
    runner.sql(sql.SQL("CREATE TABLE {} (term text PRIMARY KEY, definition text)").format(
        sql.Identifier(HOSTILE_NAME)))
    runner.sql(sql.SQL("INSERT INTO {} VALUES ('anaphora', 'a repetition'), ('zeugma', 'a yoking')").format(
        sql.Identifier(HOSTILE_NAME)))
    env, config = hostile_env
    runner.inv("-f", config, "load", "--env=local", env=env)
    assert sorted(i["term"] for i in items(runner.dynamodb(), "pni-hostile")) == ["anaphora", "zeugma"]
    assert runner.sql("SELECT count(*) FROM lessons")[0][0] == 3


# Text SQL built by string formatting: an f-string holding SQL, or a literal formatted with % or
# .format(). psycopg2's sql.SQL("... {}").format(sql.Identifier(...)) is the safe form and is not
# matched: its .format follows a parenthesis, not a quote.
SQL_WORDS = r"\b(?:SELECT|INSERT INTO|UPDATE|DELETE FROM|DROP|CREATE|ALTER|TRUNCATE|COPY|GRANT)\b"
UNSAFE_SQL = [
    re.compile(r"\.execute\(\s*f[\"']"),
    re.compile(r"\.execute\(\s*[\"'][^\"'\n]*[\"']\s*(?:%|\.format\()"),
    re.compile(r"\bf[\"'][^\"'\n]*" + SQL_WORDS),
    re.compile(r"[\"'][^\"'\n]*" + SQL_WORDS + r"[^\"'\n]*[\"']\s*(?:%\s|\.format\()"),
]


def unsafe_sql(text: str) -> list[str]:
    return [match.group(0) for pattern in UNSAFE_SQL for match in pattern.finditer(text)]


def test_the_unsafe_sql_patterns_catch_what_they_should():
    assert unsafe_sql('cur.execute(f"SELECT * FROM {table}")')
    assert unsafe_sql('cur.execute("SELECT * FROM %s" % table)')
    assert unsafe_sql("query = 'DELETE FROM {} WHERE id = 1'.format(table)")
    assert unsafe_sql('query = f"DROP TABLE {name}"')
    assert not unsafe_sql('sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))')
    assert not unsafe_sql('cur.execute("SELECT id FROM lessons WHERE id = %s", (lesson_id,))')
    assert not unsafe_sql('raise SourceError(f"cannot read table {name}: check it")')


def test_no_sql_is_built_by_string_formatting_in_the_tool_or_its_plugins():
    sources = sorted([*(REPO / "pni_tasks").rglob("*.py"), *(REPO / "plugins").rglob("*.py")])
    assert len(sources) > 20
    found = {str(path.relative_to(REPO)): unsafe_sql(path.read_text(encoding="utf-8")) for path in sources}
    assert {path: hits for path, hits in found.items() if hits} == {}


# -------------------------------------------------------------------------------------------------
# Secrets
# -------------------------------------------------------------------------------------------------

PG_PASSWORD = "Sup3r-S3cret-PW!"
AWS_SECRET = "Secret-AWS-Key-XYZ123"


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_no_secret_reaches_output_metadata_or_state(runner, tmp_path, pg_server_dsn):
    runner.seed(6)
    server = parse_dsn(pg_server_dsn)
    creds = tmp_path / "aws-credentials"  # outside HOME, which is searched below
    creds.write_text(f"[postgres-creds]\npg_host = {server.get('host', '127.0.0.1')}\n"
                     f"pg_port = {server.get('port', 5432)}\npg_user = {server.get('user', 'postgres')}\n"
                     f"pg_password = {PG_PASSWORD}\n")
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"pni": {"envs": {"dev": {"endpoint_url": runner.endpoint,
                                                           "database": runner.pg_dsn.rsplit("/", 1)[1]}}}}))
    env = runner.environ(PNI_PG_DSN=None, AWS_SHARED_CREDENTIALS_FILE=str(creds),
                         AWS_ACCESS_KEY_ID="AKIAPNITEST0000000001", AWS_SECRET_ACCESS_KEY=AWS_SECRET)
    outputs = []

    migrated = runner.inv("-f", str(config), "migrate", "--env=dev", "--clean", "--verbose", env=env)
    assert "[postgres-creds] in" in migrated.stderr  # the password file was really used
    outputs.append(migrated)
    # a failing load: one lesson that cannot be stored, recorded with its error in the metadata table
    runner.sql("UPDATE lessons SET difficulty = 'NaN' WHERE id = 1")
    failed = runner.inv("-f", str(config), "load", "--env=dev", "--verbose", env=env, check=False)
    assert failed.returncode == 1
    outputs.append(failed)
    # a failing connection through a DSN that holds the password
    dsn_env = dict(env, PNI_PG_DSN=f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:1/nowhere")
    refused = runner.inv("-f", str(config), "migrate", "--env=dev", env=dsn_env, check=False)
    assert refused.returncode == 1 and "postgres:***@127.0.0.1:1" in last_line(refused.stderr)
    outputs.append(refused)
    outputs.append(runner.inv("-f", str(config), "summary", "--env=dev", "--json", env=env))

    records = items(runner.dynamodb(), "pni-cache-metadata")
    assert {r["status"] for r in records if r["pk"] == "run"} == {"succeeded", "failed"}
    places = {f"output of inv {' '.join(result.args[3:])}": result.stdout + result.stderr for result in outputs}
    places.update({f"metadata item {r['pk']}/{r['sk']}": repr(r) for r in records})
    places.update({str(path): path.read_bytes().decode("utf-8", "replace") for path in files_under(runner.home)})
    for secret in (PG_PASSWORD, AWS_SECRET):
        assert [place for place, text in places.items() if secret in text] == [], secret


# -------------------------------------------------------------------------------------------------
# Destructive commands on a protected env
# -------------------------------------------------------------------------------------------------


def prod_environ(runner) -> dict[str, str]:
    """Env prod (eu-west-1) pointed at moto; its PostgreSQL is this test's database (PNI_PG_DSN)."""
    return runner.environ(INVOKE_PNI_ENVS_PROD_ENDPOINT_URL=runner.endpoint)


def inv_without_terminal(runner, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*INV, *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)


def inv_typing(env: dict[str, str], typed: str, *args: str) -> subprocess.CompletedProcess:
    """``inv`` whose stdin is a terminal on which the user types ``typed`` and Enter."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, typed.encode() + b"\n")
        return subprocess.run([*INV, *args], cwd=REPO, env=env, stdin=terminal, capture_output=True, text=True,
                              timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)


def prod_state(runner) -> tuple[str, list]:
    """What a deletion would change: the lessons table's creation time and its items."""
    client = runner.dynamodb("eu-west-1")
    created = client.describe_table(TableName="pni-lessons")["Table"]["CreationDateTime"]
    return str(created), sorted(items(client, "pni-lessons"), key=lambda item: item["lesson_id"])


def test_destructive_flags_on_prod_are_refused_without_confirmation(runner, tmp_path):
    runner.seed(4)
    env = prod_environ(runner)
    runner.inv("load", "--env=prod", env=env)  # not destructive: no confirmation needed
    runner.sql("DELETE FROM lessons WHERE id = 4")  # an orphan for --prune
    before = prod_state(runner)

    for args in (["load", "--clean"], ["migrate", "--strategy=clean"], ["load", "--prune"],
                 ["create-tables", "--clean"]):
        result = inv_without_terminal(runner, env, *args, "--env=prod")
        assert result.returncode == 1, (args, result.stderr)
        line = last_line(result.stderr)
        assert line.startswith("error: stage 0") and "env prod is protected" in line and "--yes" in line, line
        assert "Traceback" not in result.stderr
        assert prod_state(runner) == before, args

    mistyped = inv_typing(env, "dev", "load", "--env=prod", "--clean")
    assert mistyped.returncode == 1 and "you typed 'dev', not 'prod'" in last_line(mistyped.stderr)
    # a dry run deletes nothing: it needs no confirmation
    assert inv_without_terminal(runner, env, "load", "--env=prod", "--clean", "--dry-run").returncode == 0
    assert prod_state(runner) == before

    # an env marked protected in the config is protected like prod
    config = tmp_path / "protected.yaml"
    config.write_text(json.dumps({"pni": {"envs": {"local": {"protected": True}}}}))
    runner.inv("load", "--env=local")
    refused = inv_without_terminal(runner, runner.environ(), "-f", str(config), "load", "--env=local", "--clean")
    assert refused.returncode == 1 and "env local is protected" in last_line(refused.stderr)
    assert len(items(runner.dynamodb(), "pni-lessons")) == 3


def test_destructive_flags_on_prod_go_ahead_with_yes_or_the_typed_name(runner):
    runner.seed(4)
    env = prod_environ(runner)
    runner.inv("load", "--env=prod", env=env)
    created_before, _ = prod_state(runner)

    runner.sql("DELETE FROM lessons WHERE id = 4")
    typed = inv_typing(env, "prod", "load", "--env=prod", "--prune", "--force")
    assert typed.returncode == 0, typed.stderr
    assert "type prod to go on" in typed.stderr
    assert sorted(int(i["lesson_id"]) for i in items(runner.dynamodb("eu-west-1"), "pni-lessons")) == [1, 2, 3]

    # --yes reaches every stage of migrate: create-tables recreates, load writes, verify passes
    result = inv_without_terminal(runner, env, "migrate", "--env=prod", "--clean", "--yes")
    assert result.returncode == 0, result.stderr
    created_after, stored = prod_state(runner)
    assert created_after != created_before  # deleted and recreated
    assert [int(i["lesson_id"]) for i in stored] == [1, 2, 3]
    assert table_names(runner.dynamodb("us-east-1")) == []  # and nothing of another env
