"""Environments, PostgreSQL credentials and DynamoDB endpoints, as a user sets them.

invoke owns the configuration hierarchy. What it does, lowest to highest precedence (its
``Config.merge``): defaults < collection < system file (/etc/invoke.yaml) < user file
(~/.invoke.yaml) < project file (``invoke.yaml`` beside ``tasks.py``, which holds pni-migrate's
defaults) < ``INVOKE_...`` environment variables < runtime file (``inv -f mine.yaml``) < overrides.
Two consequences the tests below pin down: a user file can *add* an env but cannot change a value
``invoke.yaml`` sets (the project file outranks it), and an ``inv -f`` file beats a variable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import psycopg2.extensions
import pytest
from invhelp import REPO, InvRunner, items, table_names
from invoke import Config

from pni_tasks.config import PgCredentials, dynamodb_endpoint, env_settings, known_envs, pg_credentials
from pni_tasks.errors import ConfigError

PASSWORD = "S3cr3t-Pw-123!"
DATA_TABLES = ["pni-lessons", "pni-passages", "pni-topics"]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def resolved_pni(monkeypatch: pytest.MonkeyPatch, home: Path, *, user: dict | None = None,
                 runtime: dict | None = None, variables: dict[str, str] | None = None):
    """The ``pni`` tree as invoke resolves it for ``inv [-f mine.json] ...`` run in the repository."""
    for name in [name for name in os.environ if name.startswith("INVOKE_")]:
        monkeypatch.delenv(name)
    for name, value in (variables or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(home))
    user_file = home / ".invoke.json"
    user_file.unlink(missing_ok=True)
    if user is not None:
        user_file.write_text(json.dumps(user))
    runtime_path = None
    if runtime is not None:
        runtime_path = home / "mine.json"
        runtime_path.write_text(json.dumps(runtime))
    config = Config(project_location=str(REPO), runtime_path=str(runtime_path) if runtime_path else None)
    config.load_project()
    config.load_runtime()
    config.load_shell_env()
    return config.pni


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def bare_runner(home: Path, endpoint: str = UNREACHABLE) -> InvRunner:
    """``inv`` for failures that must come before any connection (no database behind it)."""
    return InvRunner(pg_dsn="postgresql://postgres@127.0.0.1:9/none", endpoint=endpoint, home=home)


def creds_file(path: Path, **keys: str) -> Path:
    lines = ["[default]", "aws_access_key_id = testing", "aws_secret_access_key = testing", ""]
    if keys:
        lines += ["[postgres-creds]", *(f"{key} = {value}" for key, value in keys.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def creds_for(dsn: str, password: str = PASSWORD) -> dict[str, str]:
    """``[postgres-creds]`` keys reaching the test server of ``dsn`` (it trusts any password)."""
    parts = psycopg2.extensions.parse_dsn(dsn)
    return {"pg_host": parts.get("host", "127.0.0.1"), "pg_port": parts.get("port", "5432"),
            "pg_user": parts.get("user", "postgres"), "pg_password": password}


# -------------------------------------------------------------------------------------------------
# Environments through invoke's hierarchy
# -------------------------------------------------------------------------------------------------


def test_invoke_yaml_defines_dev_prod_and_local(monkeypatch, home):
    pni = resolved_pni(monkeypatch, home)
    assert known_envs(pni) == ["dev", "local", "prod"]
    dev, prod, local = env_settings(pni, None), env_settings(pni, "prod"), env_settings(pni, "local")
    assert (dev.name, dev.region, dev.database, dev.endpoint_url, dev.local_stack) == (
        "dev", "us-east-1", "genaicoe_postgresql", None, False)
    assert (prod.region, prod.database, prod.endpoint_url, prod.local_stack) == ("eu-west-1", "prod", None, False)
    assert (local.region, local.endpoint_url, local.local_stack) == ("us-east-1", "http://127.0.0.1:54330", True)
    assert [env.table_name("pni-lessons") for env in (dev, prod, local)] == ["pni-lessons"] * 3
    assert (prod.prices.wru_per_million, prod.prices.rru_per_million) == (0.7068, 0.1415)


def test_a_runtime_file_adds_an_env_and_keeps_the_defaults(monkeypatch, home):
    staging = {"database": "staging_db", "region": "eu-west-1", "table_prefix": "stg-"}
    pni = resolved_pni(monkeypatch, home, runtime={"pni": {"envs": {"staging": staging}}})
    assert known_envs(pni) == ["dev", "local", "prod", "staging"]
    env = env_settings(pni, "staging")
    assert (env.region, env.database, env.endpoint_url) == ("eu-west-1", "staging_db", None)
    assert env.table_name("pni-topics") == "stg-pni-topics"
    assert env.metadata_table == "stg-pni-cache-metadata"
    assert env.prices.wru_per_million == 0.7068  # the region's prices, from invoke.yaml
    assert env_settings(pni, "dev").database == "genaicoe_postgresql"  # merged, not replaced


def test_an_environment_variable_overrides_one_value(monkeypatch, home):
    pni = resolved_pni(monkeypatch, home, variables={"INVOKE_PNI_ENVS_DEV_REGION": "us-west-2",
                                                     "INVOKE_PNI_WRITERS": "4",
                                                     "INVOKE_PNI_TABLES": "pni-lessons, pni-topics"})
    dev = env_settings(pni, "dev")
    assert (dev.region, dev.database) == ("us-west-2", "genaicoe_postgresql")
    assert dev.prices.wru_per_million == 0.625  # Oregon's prices are in invoke.yaml too
    assert env_settings(pni, "prod").region == "eu-west-1"
    assert dev.writers == 4  # invoke cast the string to the default's type
    # a variable cannot hold a list: a comma-separated string names several tables
    assert dev.tables == ("pni-lessons", "pni-topics")


def test_precedence_user_file_below_project_file_below_variable_below_runtime_file(monkeypatch, home):
    """invoke's order, as documented in this module's docstring, observed on one value: dev's region."""
    user = {"pni": {"envs": {"dev": {"region": "eu-west-1", "database": "from_user_file"},
                             "mine": {"region": "us-east-2", "database": "mine"}}}}
    pni = resolved_pni(monkeypatch, home, user=user)
    dev = env_settings(pni, "dev")
    assert (dev.region, dev.database) == ("us-east-1", "genaicoe_postgresql")  # project file beats user file
    assert env_settings(pni, "mine").region == "us-east-2"  # ... but the user file's new env is there

    variable = {"INVOKE_PNI_ENVS_DEV_REGION": "us-west-2"}
    assert env_settings(resolved_pni(monkeypatch, home, user=user, variables=variable), "dev").region == "us-west-2"

    runtime = {"pni": {"envs": {"dev": {"region": "eu-west-1"}}}}
    pni = resolved_pni(monkeypatch, home, user=user, variables=variable, runtime=runtime)
    assert env_settings(pni, "dev").region == "eu-west-1"  # inv -f beats the variable


def test_inv_validate_resolves_an_env_of_a_runtime_file(runner, tmp_path):
    """The same hierarchy through the real ``inv``: ``-f staging.json validate --env=staging``."""
    database = psycopg2.extensions.parse_dsn(runner.pg_dsn)["dbname"]
    config = tmp_path / "staging.json"
    config.write_text(json.dumps({"pni": {"envs": {"staging": {
        "database": database, "region": "eu-west-1", "endpoint_url": runner.endpoint}}}}))
    document = runner.inv_json("-f", str(config), "validate", "--env=staging")
    checks = {check["check"]: check for check in document["checks"]}
    assert document["env"] == "staging"
    assert checks["DynamoDB reachable"]["detail"] == f"region eu-west-1, endpoint {runner.endpoint}"
    assert checks["source table lessons"]["detail"] == "0 rows"


def test_an_unknown_env_lists_the_known_ones(home):
    result = bare_runner(home).inv("load", "--env=nope", check=False)
    assert result.returncode == 2
    assert error_lines(result) == ["error: stage 01 setup failed: unknown env 'nope': known envs are dev, local, "
                                   "prod (add one under pni.envs in your config file)"]


@pytest.mark.parametrize(("variables", "config", "message"), [
    ({"INVOKE_PNI_WRITERS": "-3"}, None, "setting pni.writers=-3 is invalid: use a whole number >= 1"),
    ({"INVOKE_PNI_BATCH_SIZE": "abc"}, None,
     "environment variable INVOKE_PNI_BATCH_SIZE='abc' is invalid for setting pni.batch_size: use a whole number"),
    ({"INVOKE_PNI_PRUNE_MAX_FRACTION": "ten"}, None, "INVOKE_PNI_PRUNE_MAX_FRACTION='ten' is invalid for setting "
                                                     "pni.prune_max_fraction: use a number"),
    ({"INVOKE_PNI_PLUGINS_DISABLED": "topics"}, None, "environment variable INVOKE_PNI_PLUGINS_DISABLED cannot set "
                                                      "pni.plugins.disabled, which is a list"),
    ({}, {"pni": {"tables": ["pni-nope"]}}, "unknown table 'pni-nope' in setting pni.tables: known tables are "
                                            "pni-lessons, pni-passages, pni-topics"),
    ({}, {"pni": {"envs": {"dev": {"capacity_source": "guess"}}}},
     "setting pni.envs.dev.capacity_source='guess' is invalid: use one of auto, computed, server"),
], ids=["negative-writers", "batch-size-abc", "fraction-not-a-number", "list-from-variable", "unknown-table",
        "unknown-capacity-source"])
def test_an_invalid_setting_fails_in_one_line_naming_it(home, variables, config, message):
    args = []
    if config is not None:
        path = home / "mine.json"
        path.write_text(json.dumps(config))
        args = ["-f", str(path)]
    runner = bare_runner(home)
    result = runner.inv(*args, "validate", "--env=dev", check=False, env=runner.environ(**variables))
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert message in line


def test_an_unknown_strategy_fails_before_any_table_is_created(home, dynamodb_endpoint):
    runner = bare_runner(home, dynamodb_endpoint)
    result = runner.inv("load", "--env=local", "--strategy=bogus", check=False)
    assert result.returncode == 2
    assert error_lines(result) == ["error: stage 01 setup failed: unknown strategy 'bogus': known strategies are "
                                   "clean, incremental"]
    assert table_names(runner.dynamodb()) == []


# -------------------------------------------------------------------------------------------------
# PostgreSQL credentials
# -------------------------------------------------------------------------------------------------


@pytest.fixture
def dev(monkeypatch, home):
    return env_settings(resolved_pni(monkeypatch, home), "dev")


FILE_KEYS = {"pg_host": "db.example.internal", "pg_port": "6543", "pg_user": "migrator", "pg_password": PASSWORD,
             "pg_database": "shared_db", "pg_sslmode": "require"}


def test_postgres_creds_come_from_the_shared_credentials_file(dev, tmp_path):
    path = creds_file(tmp_path / "credentials", **FILE_KEYS)
    creds = pg_credentials(dev, environ={"AWS_SHARED_CREDENTIALS_FILE": str(path)})
    assert (creds.host, creds.port, creds.user, creds.password, creds.sslmode) == (
        "db.example.internal", 6543, "migrator", PASSWORD, "require")
    assert creds.database == "genaicoe_postgresql"  # the env's database wins over the file's shared pg_database
    assert creds.connect_kwargs(10) == {"connect_timeout": 10, "application_name": "pni-migrate",
                                        "host": "db.example.internal", "port": 6543, "user": "migrator",
                                        "password": PASSWORD, "dbname": "genaicoe_postgresql", "sslmode": "require"}
    assert str(path) in creds.origin


@pytest.mark.parametrize(("variable", "value", "attribute", "expected"), [
    ("PGHOST", "pg.override", "host", "pg.override"),
    ("PGPORT", "7777", "port", 7777),
    ("PGUSER", "someone", "user", "someone"),
    ("PGPASSWORD", "other-secret", "password", "other-secret"),
    ("PGDATABASE", "from_pgdatabase", "database", "from_pgdatabase"),  # beats the env's database too
])
def test_a_libpq_variable_overrides_one_key(dev, tmp_path, variable, value, attribute, expected):
    environ = {"AWS_SHARED_CREDENTIALS_FILE": str(creds_file(tmp_path / "credentials", **FILE_KEYS))}
    baseline = pg_credentials(dev, environ=environ)
    creds = pg_credentials(dev, environ={**environ, variable: value})
    assert getattr(creds, attribute) == expected
    unchanged = ("host", "port", "user", "password", "database", "sslmode")
    assert {a: getattr(creds, a) for a in unchanged if a != attribute} == {
        a: getattr(baseline, a) for a in unchanged if a != attribute}


def test_libpq_variables_alone_need_no_credentials_file(dev, tmp_path):
    environ = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "absent"), "PGHOST": "h", "PGUSER": "u",
               "PGPASSWORD": PASSWORD}
    creds = pg_credentials(dev, environ=environ)
    assert (creds.host, creds.user, creds.password, creds.port, creds.database) == (
        "h", "u", PASSWORD, 5432, "genaicoe_postgresql")


def test_pni_pg_dsn_overrides_everything(dev, tmp_path):
    dsn = f"postgresql://app:{PASSWORD}@dsn-host:5433/dsn_db"
    environ = {"AWS_SHARED_CREDENTIALS_FILE": str(creds_file(tmp_path / "credentials", **FILE_KEYS)),
               "PGHOST": "pg.override", "PGUSER": "someone", "PNI_PG_DSN": dsn}
    creds = pg_credentials(dev, environ=environ)
    assert creds.connect_kwargs(10) == {"connect_timeout": 10, "application_name": "pni-migrate", "dsn": dsn}
    # and it needs no credentials file at all
    assert pg_credentials(dev, environ={"PNI_PG_DSN": dsn, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}).dsn == dsn


@pytest.mark.parametrize(("keys", "message"), [
    (None, "no PostgreSQL credentials for env 'dev': {path} does not exist: create it with a [postgres-creds] "
           "section (pg_host, pg_user, pg_password)"),
    ({}, "no [postgres-creds] section in {path} (env 'dev'): add one with pg_host, pg_user, pg_password"),
    ({"pg_host": "h", "pg_user": "u"}, "[postgres-creds] in {path} has no pg_password (env 'dev'): add it, "
                                       "or set PGPASSWORD"),
], ids=["missing-file", "missing-section", "missing-password"])
def test_missing_credentials_name_the_key_and_the_file(dev, tmp_path, keys, message):
    path = tmp_path / "credentials"
    if keys is not None:
        creds_file(path, **keys)
    with pytest.raises(ConfigError) as caught:
        pg_credentials(dev, environ={"AWS_SHARED_CREDENTIALS_FILE": str(path)})
    assert str(caught.value).startswith(message.format(path=path))
    assert "\n" not in str(caught.value)


def test_the_password_is_never_in_repr_or_describe(dev, tmp_path):
    path = creds_file(tmp_path / "credentials", **FILE_KEYS)
    creds = pg_credentials(dev, environ={"AWS_SHARED_CREDENTIALS_FILE": str(path)})
    direct = PgCredentials(host="h", user="u", password=PASSWORD, database="d")
    for shown in (repr(creds), creds.describe(), str(creds), repr(direct), direct.describe()):
        assert PASSWORD not in shown
    assert creds.describe() == f"migrator@db.example.internal:6543/genaicoe_postgresql ([postgres-creds] in {path})"
    assert creds.secrets() == [PASSWORD]


@pytest.mark.parametrize(("dsn", "password"), [
    (f"postgresql://app:{PASSWORD}@dsn-host:5433/dsn_db", PASSWORD),
    (f"host=dsn-host port=5433 user=app password={PASSWORD} dbname=dsn_db", PASSWORD),
    ("host=dsn-host user=app password='S3cr3t Pw \\'quoted\\'' dbname=dsn_db", "S3cr3t Pw 'quoted'"),
], ids=["url", "keywords", "quoted-keyword"])
def test_a_password_in_pni_pg_dsn_is_redacted(dev, dsn, password):
    creds = pg_credentials(dev, environ={"PNI_PG_DSN": dsn})
    shown = creds.describe()
    for part in password.split():  # not even a piece of it
        assert part not in shown and part not in repr(creds)
    assert "***" in shown and "dsn-host" in shown and "dsn_db" in shown
    assert password in creds.secrets()  # what the log filter scrubs


def test_inv_validate_names_the_missing_password_in_one_line(home, tmp_path, dynamodb_endpoint):
    path = creds_file(tmp_path / "credentials", pg_host="127.0.0.1", pg_user="postgres")
    runner = bare_runner(home, dynamodb_endpoint)
    result = runner.inv("validate", "--env=dev", check=False, env=runner.environ(
        PNI_PG_DSN=None, AWS_SHARED_CREDENTIALS_FILE=str(path), INVOKE_PNI_ENVS_DEV_ENDPOINT_URL=dynamodb_endpoint))
    assert result.returncode == 2
    assert error_lines(result) == [f"error: stage 02 validate failed: [postgres-creds] in {path} has no pg_password "
                                   "(env 'dev'): add it, or set PGPASSWORD"]


def test_the_password_never_reaches_output_or_the_metadata_table(runner, tmp_path):
    """A run of env dev with the password in the credentials file, then failing runs: the password
    is in no output and in no item of pni-cache-metadata (the test server trusts any password)."""
    runner.seed(3)
    database = psycopg2.extensions.parse_dsn(runner.pg_dsn)["dbname"]
    path = creds_file(tmp_path / "credentials", **creds_for(runner.pg_dsn))
    dev = {"PNI_PG_DSN": None, "AWS_SHARED_CREDENTIALS_FILE": str(path),
           "INVOKE_PNI_ENVS_DEV_ENDPOINT_URL": runner.endpoint, "INVOKE_PNI_ENVS_DEV_DATABASE": database}

    results = [runner.inv("migrate", "--env=dev", "--clean", "--verbose", env=runner.environ(**dev))]
    results.append(runner.inv("validate", "--env=dev", check=False,
                              env=runner.environ(**{**dev, "INVOKE_PNI_ENVS_DEV_DATABASE": "pni_no_such_db"})))
    url = runner.pg_dsn.replace("postgres@", f"postgres:{PASSWORD}@", 1).rsplit("/", 1)[0] + "/pni_no_such_db"
    assert PASSWORD in url
    results.append(runner.inv("load", "--env=dev", "--verbose", check=False,
                              env=runner.environ(**{**dev, "PNI_PG_DSN": url})))

    assert [r.returncode for r in results] == [0, 1, 1]
    assert all("pni_no_such_db" in r.stdout + r.stderr for r in results[1:])  # they did reach PostgreSQL
    for result in results:
        assert PASSWORD not in result.stdout + result.stderr
    client = runner.dynamodb("us-east-1")
    assert len(items(client, "pni-lessons")) == 3
    metadata = items(client, "pni-cache-metadata")
    assert any(item.get("env") == "dev" for item in metadata)  # the runs were recorded
    assert PASSWORD not in json.dumps(metadata, default=str)


# -------------------------------------------------------------------------------------------------
# DynamoDB endpoints
# -------------------------------------------------------------------------------------------------


def test_the_env_endpoint_setting_wins_over_the_aws_variables(dev):
    configured = dataclasses.replace(dev, endpoint_url="http://a")
    both = {"AWS_ENDPOINT_URL_DYNAMODB": "http://b", "AWS_ENDPOINT_URL": "http://c"}
    assert dynamodb_endpoint(configured, both) == "http://a"
    assert dynamodb_endpoint(dev, both) == "http://b"
    assert dynamodb_endpoint(dev, {"AWS_ENDPOINT_URL": "http://c"}) == "http://c"
    assert dynamodb_endpoint(dev, {}) is None  # AWS itself


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"])
def test_an_aws_endpoint_variable_sends_a_null_endpoint_env_to_that_server(runner, variable):
    """dev's ``endpoint_url`` is null: boto3 itself honours the variable (and no STS call goes to AWS)."""
    result = runner.inv("create-tables", "--env=dev", env=runner.environ(**{variable: runner.endpoint}))
    assert result.returncode == 0
    assert set(DATA_TABLES) <= set(table_names(runner.dynamodb("us-east-1")))


def test_an_env_endpoint_url_wins_over_the_aws_endpoint_variables(runner):
    """Decision: a config file names an env's endpoint on purpose, so it beats variables left set in
    a shell (boto3 ranks an explicit ``endpoint_url`` above them too)."""
    result = runner.inv("create-tables", "--env=dev", env=runner.environ(
        INVOKE_PNI_ENVS_DEV_ENDPOINT_URL=runner.endpoint, AWS_ENDPOINT_URL_DYNAMODB=UNREACHABLE,
        AWS_ENDPOINT_URL=UNREACHABLE))
    assert result.returncode == 0
    assert set(DATA_TABLES) <= set(table_names(runner.dynamodb("us-east-1")))
