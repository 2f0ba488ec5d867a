"""``inv summary``, ``inv create-iam-user`` and ``inv cleanup`` through the real inv command against moto."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import boto3
import pytest
from invhelp import INV, REPO, InvRunner, items, table_names

pytestmark = pytest.mark.e2e
DATA_TABLES = ["pni-lessons", "pni-passages", "pni-topics"]
ALL_TABLES = sorted([*DATA_TABLES, "pni-cache-metadata"])
MOTO_ACCOUNT = "123456789012"
# What pni-migrate sends to DynamoDB, written out by hand so that a change to the policy shows up here.
EXPECTED_ACTIONS = {"dynamodb:BatchWriteItem", "dynamodb:CreateTable", "dynamodb:DeleteItem", "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan",
                    "dynamodb:TagResource", "dynamodb:ListTables"}
TABLE_ARN = re.compile(r"^arn:aws:dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):table/(?P<table>[A-Za-z0-9_.-]+)"
                       r"(?P<index>/index/\*)?$")


@pytest.fixture
def aws_runner(dynamodb_endpoint: str, tmp_path: Path) -> InvRunner:
    """``inv`` against moto only: these commands must not need PostgreSQL, so none is reachable."""
    home = tmp_path / "home"
    home.mkdir()
    return InvRunner(pg_dsn="postgresql://pni:s3cret-pw@127.0.0.1:1/nowhere", endpoint=dynamodb_endpoint, home=home)


def iam_client(runner):
    return boto3.client("iam", region_name="us-east-1", endpoint_url=runner.endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def stored_policy(iam, name: str) -> tuple[dict, dict]:
    policy = next(p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == name)
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    return policy, document["PolicyVersion"]["Document"]


def actions_of(document: dict) -> set[str]:
    return {action for statement in document["Statement"] for action in statement["Action"]}


def resource_arns(document: dict) -> list[str]:
    return [arn for statement in document["Statement"] if statement["Resource"] != "*"
            for arn in statement["Resource"]]


def two_env_config(tmp_path: Path, runner, **extra: dict) -> Path:
    """dev (us-east-1) and prod (eu-west-1, table prefix prod-) both served by this test's moto server."""
    envs = {"dev": {"endpoint_url": runner.endpoint},
            "prod": {"endpoint_url": runner.endpoint, "table_prefix": "prod-"}}
    for env, settings in extra.items():
        envs[env].update(settings)
    config = tmp_path / "two-envs.yaml"
    config.write_text(json.dumps({"pni": {"envs": envs}}))
    return config


def inv_without_terminal(runner, *args: str) -> subprocess.CompletedProcess:
    """``inv`` with stdin that is not a terminal (what a CI job or a pipe gives)."""
    return subprocess.run([*INV, *args], cwd=REPO, env=runner.environ(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def inv_typing(runner, typed: str, *args: str) -> subprocess.CompletedProcess:
    """``inv`` whose stdin is a terminal on which the user types ``typed`` and Enter."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, typed.encode() + b"\n")
        return subprocess.run([*INV, *args], cwd=REPO, env=runner.environ(), stdin=terminal,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)


# -------------------------------------------------------------------------------------------------
# summary
# -------------------------------------------------------------------------------------------------


def test_summary_of_an_empty_env_says_what_is_missing_creates_nothing_and_needs_no_postgres(aws_runner):
    runner = aws_runner  # PostgreSQL unreachable, with a password: summary must neither connect nor show it
    result = runner.inv("summary", "--env=local")
    for table in ALL_TABLES:
        assert f"table {table} does not exist yet: run inv create-tables" in result.stdout
    assert "last runs: none recorded" in result.stdout
    document = runner.inv_json("summary", "--env=local")
    assert [(t["name"], t["exists"]) for t in document["tables"]] == [(t, False) for t in [*DATA_TABLES,
                                                                                           "pni-cache-metadata"]]
    assert document["runs"] == [] and document["last_verify"] is None
    assert document["config"]["region"] == "us-east-1" and document["config"]["endpoint_url"] == runner.endpoint
    assert table_names(runner.dynamodb()) == []
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_summary_after_migrate_shows_counts_runs_newest_first_and_verify(runner):
    runner.seed(6)
    runner.inv("migrate", "--env=local", "--clean")
    client = runner.dynamodb()
    stored = {table: len(items(client, table)) for table in DATA_TABLES}
    created = sum(stored.values())

    document = runner.inv_json("summary", "--env=local")
    tables = {t["name"]: t for t in document["tables"]}
    assert {name: tables[name]["item_count"] for name in DATA_TABLES} == stored
    assert all(tables[name]["status"] == "ACTIVE" for name in ALL_TABLES)  # (moto reports every size as 0)
    [run] = document["runs"]
    assert (run["mode"], run["status"], run["created"], run["failed"]) == ("clean", "succeeded", created, 0)
    assert run["seconds"] > 0 and run["cost_actual"] > 0
    assert document["last_verify"]["ok"] is True
    assert document["last_verify"]["tables"]["pni-lessons"]["stored"] == stored["pni-lessons"]
    assert document["notes"] == []

    runner.inv("load", "--env=local")  # a second run, incremental, nothing changed
    text = runner.inv("summary", "--env=local", "--runs=1").stdout
    run_rows = [line.split() for line in text.splitlines() if re.match(r"^[0-9a-f]{12} ", line)]
    assert len(run_rows) == 1  # --runs=1: only the newest
    assert run_rows[0][1:3] == ["incremental", "succeeded"]
    assert run_rows[0][5:10] == ["0", "0", f"{created:,}", "0", "0"]  # created updated skipped deleted failed
    assert "last verify: PASS" in text


# -------------------------------------------------------------------------------------------------
# create-iam-user
# -------------------------------------------------------------------------------------------------


def test_create_iam_user_allows_only_the_tools_actions_on_the_envs_tables_and_is_idempotent(aws_runner):
    runner = aws_runner
    iam = iam_client(runner)
    result = runner.inv("create-iam-user", "--env=local")
    user = iam.get_user(UserName="pni-dynamodb-local-user")["User"]
    assert user["Path"] == "/pni-migration/"
    policy, document = stored_policy(iam, "pni-dynamodb-local-policy")
    assert policy["Path"] == "/pni-migration/"
    assert json.loads(result.stdout) == document  # the printed document is the one stored
    assert actions_of(document) == EXPECTED_ACTIONS
    arns = resource_arns(document)
    matches = [TABLE_ARN.match(arn) for arn in arns]
    assert all(matches), arns
    assert {(m["region"], m["account"]) for m in matches} == {("us-east-1", MOTO_ACCOUNT)}
    assert {m["table"] for m in matches} == set(ALL_TABLES)
    assert {(m["table"], bool(m["index"])) for m in matches} == {(t, i) for t in ALL_TABLES for i in (False, True)}
    [list_tables] = [s for s in document["Statement"] if s["Resource"] == "*"]
    assert list_tables["Action"] == ["dynamodb:ListTables"]  # the only action not scoped to the tables
    assert list_tables["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    attached = iam.list_attached_user_policies(UserName=user["UserName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy["Arn"]]
    assert iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"] == []
    assert "prefer a role" in result.stderr

    again = runner.inv("create-iam-user", "--env=local")
    assert "nothing changed" in again.stderr
    assert len(iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]) == 1
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/pni-migration/")["Users"]] == [user["UserName"]]
    assert iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"] == []


def test_the_policy_covers_every_dynamodb_operation_the_code_sends():
    from pni_tasks import iam

    # client.describe_table( -> DescribeTable; waiters only poll DescribeTable, and ``meta`` is no request
    sent = set()
    for path in [*(REPO / "pni_tasks").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]:
        if path.name == "bench.py":  # the benchmark's baseline and floor run against a private moto only
            continue
        sent |= set(re.findall(r"\bclient\.([a-z_]+)\(", path.read_text(encoding="utf-8")))
    sent -= {"get_waiter", "get_paginator"}
    assert {"batch_write_item", "create_table", "query"} <= sent  # the scan finds the calls it should
    allowed = {action.split(":")[1] for action in (*iam.TABLE_ACTIONS, *iam.LIST_ACTIONS)}
    missing = {op for op in sent if "".join(part.capitalize() for part in op.split("_")) not in allowed}
    assert missing == set(), f"add these DynamoDB actions to pni_tasks/iam.py: {sorted(missing)}"


def test_a_changed_policy_gets_a_new_default_version_and_the_oldest_goes_at_five(aws_runner):
    runner = aws_runner
    iam = iam_client(runner)
    runner.inv("create-iam-user", "--env=local")
    policy, document = stored_policy(iam, "pni-dynamodb-local-policy")
    narrower = {**document, "Statement": document["Statement"][:1]}
    for _ in range(4):  # v2..v5, the last one (not ours) default
        iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=json.dumps(narrower), SetAsDefault=True)
    runner.inv("create-iam-user", "--env=local")
    versions = iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v2", "v3", "v4", "v5", "v6"]
    assert stored_policy(iam, "pni-dynamodb-local-policy")[1] == document


def test_dry_run_creates_nothing_and_an_access_key_only_on_request_once(aws_runner):
    runner = aws_runner
    iam = iam_client(runner)
    dry = runner.inv("create-iam-user", "--env=local", "--dry-run")
    assert actions_of(json.loads(dry.stdout)) == EXPECTED_ACTIONS
    assert iam.list_users()["Users"] == [] and iam.list_policies(Scope="Local")["Policies"] == []

    result = runner.inv("create-iam-user", "--env=local", "--create-access-key")
    [key] = iam.list_access_keys(UserName="pni-dynamodb-local-user")["AccessKeyMetadata"]
    assert f"aws_access_key_id = {key['AccessKeyId']}" in result.stdout
    secrets = re.findall(r"^aws_secret_access_key = (\S+)$", result.stdout, re.MULTILINE)
    assert len(secrets) == 1 and len(secrets[0]) >= 20
    assert result.stdout.count(secrets[0]) == 1 and secrets[0] not in result.stderr
    assert "shown only this once" in result.stderr

    twice = runner.inv("create-iam-user", "--env=local", "--create-access-key", check=False)
    assert twice.returncode == 1
    assert f"already has access key(s) {key['AccessKeyId']}" in twice.stderr
    assert len(iam.list_access_keys(UserName="pni-dynamodb-local-user")["AccessKeyMetadata"]) == 1


def test_prod_policy_grants_nothing_in_devs_region_or_on_devs_tables(aws_runner, tmp_path):
    runner = aws_runner
    config = str(two_env_config(tmp_path, runner))
    prod = json.loads(runner.inv("-f", config, "create-iam-user", "--env=prod", "--dry-run").stdout)
    dev = json.loads(runner.inv("-f", config, "create-iam-user", "--env=dev", "--dry-run").stdout)
    prod_arns, dev_arns = resource_arns(prod), resource_arns(dev)
    assert prod_arns and all(":eu-west-1:" in arn and "us-east-1" not in arn for arn in prod_arns)
    assert all(":us-east-1:" in arn for arn in dev_arns)
    prod_tables = {TABLE_ARN.match(arn)["table"] for arn in prod_arns}
    dev_tables = {TABLE_ARN.match(arn)["table"] for arn in dev_arns}
    assert prod_tables == {f"prod-{t}" for t in ALL_TABLES} and dev_tables == set(ALL_TABLES)
    assert not set(prod_arns) & set(dev_arns)
    [list_tables] = [s for s in prod["Statement"] if s["Resource"] == "*"]
    assert list_tables["Condition"]["StringEquals"]["aws:RequestedRegion"] == "eu-west-1"
    assert iam_client(runner).list_users()["Users"] == []


# -------------------------------------------------------------------------------------------------
# cleanup
# -------------------------------------------------------------------------------------------------


def test_cleanup_lists_without_confirm_and_deletes_every_table_with_it(runner):
    runner.seed(3)
    runner.inv("migrate", "--env=local", "--clean")
    client = runner.dynamodb()
    lessons = len(items(client, "pni-lessons"))

    listed = runner.inv("cleanup", "--env=local")
    rows = {line.split()[1]: line for line in listed.stdout.splitlines() if line.startswith("table ")}
    assert sorted(rows) == ALL_TABLES
    assert f"{lessons} items" in rows["pni-lessons"]
    assert "rerun with --confirm" in listed.stderr
    assert table_names(client) == ALL_TABLES and len(items(client, "pni-lessons")) == lessons

    runner.inv("cleanup", "--env=local", "--confirm")
    assert table_names(client) == []
    assert "does not exist yet" in runner.inv("summary", "--env=local").stdout


def test_cleanup_of_protected_prod_needs_the_typed_name_or_yes_and_can_remove_iam(runner, tmp_path):
    config = str(two_env_config(tmp_path, runner))
    runner.inv("-f", config, "create-tables", "--env=prod")
    runner.inv("-f", config, "create-iam-user", "--env=prod", "--create-access-key")
    prod_tables = sorted(f"prod-{t}" for t in ALL_TABLES)
    eu = runner.dynamodb("eu-west-1")
    assert table_names(eu) == prod_tables

    refused = inv_without_terminal(runner, "-f", config, "cleanup", "--env=prod", "--confirm", "--include-iam")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: stage 99 cleanup failed: env prod is protected and cleanup deletes its tables: "
        "stdin is not a terminal, so pass --yes to confirm")
    mistyped = inv_typing(runner, "dev", "-f", config, "cleanup", "--env=prod", "--confirm", "--include-iam")
    assert mistyped.returncode == 1 and "you typed 'dev', not 'prod'" in mistyped.stderr
    assert table_names(eu) == prod_tables
    iam = iam_client(runner)
    assert iam.get_user(UserName="pni-dynamodb-prod-user")

    runner.inv("-f", config, "cleanup", "--env=prod", "--confirm", "--yes", "--include-iam")
    assert table_names(eu) == []
    assert iam.list_users()["Users"] == [] and iam.list_policies(Scope="Local")["Policies"] == []


def test_an_env_marked_protected_in_config_is_protected_too(aws_runner, tmp_path):
    runner = aws_runner
    config = str(two_env_config(tmp_path, runner, dev={"protected": True}))
    runner.dynamodb().create_table(TableName="pni-cache-metadata", BillingMode="PAY_PER_REQUEST",
                                   KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    refused = inv_without_terminal(runner, "-f", config, "cleanup", "--env=dev", "--confirm")
    assert refused.returncode == 1 and "env dev is protected" in refused.stderr
    assert table_names(runner.dynamodb()) == ["pni-cache-metadata"]
    typed = inv_typing(runner, "dev", "-f", config, "cleanup", "--env=dev", "--confirm")
    assert typed.returncode == 0, typed.stderr
    assert table_names(runner.dynamodb()) == []
