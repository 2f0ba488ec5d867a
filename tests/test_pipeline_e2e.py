"""The pipeline through the real ``inv`` command: moto's HTTP server and a real PostgreSQL."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
from invhelp import items, table_names

pytestmark = pytest.mark.e2e
DATA_TABLES = ["pni-lessons", "pni-passages", "pni-topics"]


def stages_run(stderr: str) -> list[str]:
    return re.findall(r"stage (\d\d) [a-z-]+ \(env", stderr)


def test_full_clean_migration_of_seeded_data(runner):
    counts = runner.seed(40)
    result = runner.inv("migrate", "--env=local", "--clean")
    assert stages_run(result.stderr) == ["01", "02", "03", "04", "05", "00"]
    client = runner.dynamodb()
    assert table_names(client) == sorted([*DATA_TABLES, "pni-cache-metadata"])
    lessons = items(client, "pni-lessons")
    passages = items(client, "pni-passages")
    assert len(lessons) == counts["lessons"]
    assert len(passages) == counts["passages"]
    assert sum(int(lesson["question_count"]) for lesson in lessons) == counts["questions"]
    topics = runner.sql("SELECT count(*) FROM (SELECT DISTINCT topic, level FROM lessons) t")[0][0]
    assert len(items(client, "pni-topics")) == topics
    # the statistics table on stdout: every lesson created, nothing failed
    row = next(line for line in result.stdout.splitlines() if line.startswith("pni-lessons"))
    assert row.split()[1:6] == [str(counts["lessons"]), "0", "0", "0", "0"]
    assert "PASS" in result.stdout and "FAIL" not in result.stdout


def test_each_stage_alone(runner):
    runner.seed(10)
    setup = runner.inv("setup")
    assert "boto3" in setup.stdout and "missing" not in setup.stdout.split("moto")[0]
    validate = runner.inv("validate", "--env=local")
    assert "source table lessons" in validate.stdout and "FAIL" not in validate.stdout
    assert "SKIP" in validate.stdout  # STS on a non-AWS endpoint
    assert stages_run(validate.stderr) == ["01", "02"]
    create = runner.inv("create-tables", "--env=local")
    assert stages_run(create.stderr) == ["01", "02", "03"]
    assert table_names(runner.dynamodb()) == sorted([*DATA_TABLES, "pni-cache-metadata"])
    load = runner.inv_json("load", "--env=local")
    assert load["status"] == "succeeded" and load["mode"] == "incremental"
    assert {t["table"]: t["created"] for t in load["tables"]}["pni-lessons"] == 10
    verify = runner.inv_json("verify", "--env=local")
    assert verify["ok"] is True
    assert all(t["missing"] == t["extra"] == t["different"] == 0 for t in verify["tables"])


def test_each_prerequisite_stage_runs_once_and_in_order(runner):
    runner.seed(5)
    result = runner.inv("load", "--env=local")
    assert stages_run(result.stderr) == ["01", "02", "03", "04"]
    result = runner.inv("migrate", "--env=local")
    assert stages_run(result.stderr) == ["01", "02", "03", "04", "05", "00"]


def test_json_output_is_one_document_on_stdout(runner):
    runner.seed(5)
    document = runner.inv_json("migrate", "--env=local", "--clean")
    assert document["load"]["total"]["created"] > 0
    assert document["verify"]["ok"] is True


def test_unknown_env_fails_with_one_line_listing_known_envs(runner):
    result = runner.inv("migrate", "--env=staging", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and "unknown env 'staging'" in lines[-1]
    assert "dev, local, prod" in lines[-1]
    assert "Traceback" not in result.stderr


def test_stage_failure_names_the_stage(runner):
    # no source schema in this database: validate fails and nothing after it runs
    runner.sql("DROP TABLE questions")
    result = runner.inv("migrate", "--env=local", check=False)
    assert result.returncode == 1
    assert "stage 02 validate failed" in result.stderr
    assert "source table questions" in result.stderr
    assert table_names(runner.dynamodb()) == []


def _isolation_config(tmp_path, runner, pg_server_dsn) -> tuple:
    server = urlparse(pg_server_dsn)
    creds = tmp_path / "credentials"
    creds.write_text(
        "[postgres-creds]\n"
        f"pg_host = {server.hostname}\npg_port = {server.port or 5432}\n"
        f"pg_user = {server.username or 'postgres'}\npg_password = not-used-by-trust-auth\n"
    )
    dev_db, prod_db = runner.pg_dsn.rsplit("/", 1)[1], runner.pg_dsn.rsplit("/", 1)[1] + "_prod"
    config = tmp_path / "mine.yaml"
    config.write_text(json.dumps({"pni": {"envs": {
        "dev": {"endpoint_url": runner.endpoint, "database": dev_db},
        "prod": {"endpoint_url": runner.endpoint, "database": prod_db},
    }}}))
    return creds, config, dev_db, prod_db


def test_each_env_touches_only_its_region_endpoint_and_database(runner, tmp_path, pg_server_dsn):
    runner.seed(6)
    creds, config, dev_db, prod_db = _isolation_config(tmp_path, runner, pg_server_dsn)
    env = runner.environ(PNI_PG_DSN=None, AWS_SHARED_CREDENTIALS_FILE=str(creds))
    env.pop("PNI_PG_DSN", None)
    # prod's database does not exist yet: prod must fail on it, never fall back on dev's
    failed = runner.inv("-f", str(config), "migrate", "--env=prod", env=env, check=False)
    assert failed.returncode != 0 and prod_db in failed.stderr
    runner.sql(f'CREATE DATABASE "{prod_db}" TEMPLATE "{dev_db}"')
    try:
        runner.sql_on(prod_db, "DELETE FROM lessons WHERE id > (SELECT min(id) + 2 FROM lessons)")
        runner.inv("-f", str(config), "migrate", "--env=prod", "--clean", "--yes", env=env)
        assert table_names(runner.dynamodb("eu-west-1")) == sorted([*DATA_TABLES, "pni-cache-metadata"])
        assert table_names(runner.dynamodb("us-east-1")) == []
        assert len(items(runner.dynamodb("eu-west-1"), "pni-lessons")) == 3
        prod_runs_before = items(runner.dynamodb("eu-west-1"), "pni-cache-metadata")

        runner.inv("-f", str(config), "migrate", "--env=dev", "--clean", env=env)
        assert len(items(runner.dynamodb("us-east-1"), "pni-lessons")) == 6
        assert items(runner.dynamodb("eu-west-1"), "pni-cache-metadata") == prod_runs_before
    finally:
        runner.drop_database(prod_db)
