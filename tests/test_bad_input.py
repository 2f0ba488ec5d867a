"""Bad input is explained in one line: the last line on stderr starts with ``error:``, the exit code
is not zero, there is no traceback, and nothing is half-written (a run that fails validation
creates no DynamoDB table). Rows that cannot be migrated fail alone: the rest migrates, the run
exits non-zero listing them, and ``inv verify`` lists them as unmigratable but passes.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest
from invhelp import items, table_names
from psycopg2.extensions import parse_dsn

pytestmark = pytest.mark.e2e


def last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int | None = None) -> str:
    """The command failed in one ``error:`` line holding every fragment, without a traceback."""
    assert result.returncode != 0, result.stderr
    if code is not None:
        assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    line = last_line(result.stderr)
    assert line.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in line, line
    return line


def assert_no_tables(runner) -> None:
    for region in ("us-east-1", "eu-west-1"):
        assert table_names(runner.dynamodb(region)) == [], region


# -------------------------------------------------------------------------------------------------
# Env dev pointed at moto and at a PostgreSQL server through a credentials file
# -------------------------------------------------------------------------------------------------


def dev_env(runner, tmp_path: Path, creds: dict[str, object], **dev: object) -> tuple[dict[str, str], str]:
    """(environment, config file) for ``inv -f CONFIG ... --env=dev``: dev's DynamoDB is moto, its
    PostgreSQL credentials the ``[postgres-creds]`` section ``creds`` in AWS_SHARED_CREDENTIALS_FILE."""
    creds_file = tmp_path / "aws-credentials"
    creds_file.write_text("[postgres-creds]\n" + "".join(f"{k} = {v}\n" for k, v in creds.items()))
    config = tmp_path / "dev.yaml"
    settings = {"endpoint_url": runner.endpoint, "database": runner.pg_dsn.rsplit("/", 1)[1], **dev}
    config.write_text(json.dumps({"pni": {"envs": {"dev": settings}}}))
    env = runner.environ(PNI_PG_DSN=None, AWS_SHARED_CREDENTIALS_FILE=str(creds_file))
    return env, str(config)


def server_creds(pg_server_dsn: str, **overrides: object) -> dict[str, object]:
    server = parse_dsn(pg_server_dsn)
    creds = {"pg_host": server.get("host", "127.0.0.1"), "pg_port": server.get("port", 5432),
             "pg_user": server.get("user", "postgres"), "pg_password": "unused-with-trust-auth"}
    creds.update(overrides)
    return creds


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


class FakePostgres:
    """A TCP server on 127.0.0.1 for the failures a real server cannot be made to show on demand.

    ``silent``: accepts connections and never answers (a firewall that drops, a hung server).
    ``password``: speaks just enough of PostgreSQL's protocol to ask for a password and refuse it
    exactly as a server with ``md5``/``password`` auth does (SQLSTATE 28P01). The test server uses
    trust auth, whose pg_hba.conf we may not change, so this is how a wrong password is tested.
    """

    SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.passwords: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.behaviour == "password":
                threading.Thread(target=self._refuse_password, args=(conn,), daemon=True).start()

    def _refuse_password(self, conn: socket.socket) -> None:
        try:
            while True:  # SSL and GSS encryption requests get "N" (not supported), then comes the startup
                length = struct.unpack("!I", _recv_exact(conn, 4))[0]
                code = struct.unpack("!I", _recv_exact(conn, length - 4)[:4])[0]
                if code not in (self.SSL_REQUEST, self.GSSENC_REQUEST):
                    break
                conn.sendall(b"N")
            conn.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
            _recv_exact(conn, 1)
            length = struct.unpack("!I", _recv_exact(conn, 4))[0]
            self.passwords.append(_recv_exact(conn, length - 4).rstrip(b"\0"))
            fields = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "migrator"\0\0'
            conn.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)
        except (ConnectionError, OSError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def fake_postgres():
    servers: list[FakePostgres] = []

    def start(behaviour: str) -> FakePostgres:
        servers.append(FakePostgres(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once the socket is closed


# -------------------------------------------------------------------------------------------------
# Environments and credentials
# -------------------------------------------------------------------------------------------------


def test_unknown_env_is_one_line_and_creates_nothing(runner):
    result = runner.inv("load", "--env=staging", check=False)
    assert_one_line_error(result, "unknown env 'staging'", "dev, local, prod", code=2)
    assert_no_tables(runner)


def test_missing_postgres_creds_key_names_the_file_and_the_key(runner, tmp_path, pg_server_dsn):
    creds = server_creds(pg_server_dsn)
    del creds["pg_password"]
    env, config = dev_env(runner, tmp_path, creds)
    result = runner.inv("-f", config, "migrate", "--env=dev", env=env, check=False)
    assert_one_line_error(result, f"[postgres-creds] in {tmp_path / 'aws-credentials'} has no pg_password",
                          "env 'dev'", "PGPASSWORD", code=2)
    assert_no_tables(runner)


def test_wrong_password_is_one_line_naming_the_server_never_the_password(runner, tmp_path, fake_postgres):
    server = fake_postgres("password")
    env, config = dev_env(runner, tmp_path, {"pg_host": "127.0.0.1", "pg_port": server.port, "pg_user": "migrator",
                                             "pg_password": "Wr0ng-PW-4711"})
    result = runner.inv("-f", config, "migrate", "--env=dev", env=env, check=False)
    assert_one_line_error(result, "stage 02 validate failed", f"migrator@127.0.0.1:{server.port}",
                          'password authentication failed for user "migrator"', code=1)
    assert server.passwords == [b"Wr0ng-PW-4711"]  # libpq really sent it: the server refused it
    assert "Wr0ng-PW-4711" not in result.stderr + result.stdout
    assert_no_tables(runner)


@pytest.mark.parametrize("wrong", ["user", "database"])
def test_unknown_user_or_database_on_a_real_server_is_one_line(runner, tmp_path, pg_server_dsn, wrong):
    if wrong == "user":
        env, config = dev_env(runner, tmp_path, server_creds(pg_server_dsn, pg_user="no_such_role_pni"))
        expected = 'role "no_such_role_pni" does not exist'
    else:
        env, config = dev_env(runner, tmp_path, server_creds(pg_server_dsn), database="no_such_database_pni")
        expected = 'database "no_such_database_pni" does not exist'
    result = runner.inv("-f", config, "migrate", "--env=dev", env=env, check=False)
    assert_one_line_error(result, "stage 02 validate failed", "cannot connect to PostgreSQL", expected, code=1)
    assert_no_tables(runner)


def test_closed_port_is_one_line(runner, tmp_path):
    port = closed_port()
    env, config = dev_env(runner, tmp_path, {"pg_host": "127.0.0.1", "pg_port": port, "pg_user": "postgres",
                                             "pg_password": "N0t-used-here"})
    result = runner.inv("-f", config, "migrate", "--env=dev", env=env, check=False)
    assert_one_line_error(result, f"127.0.0.1:{port}", "Connection refused", code=1)
    assert_no_tables(runner)


def test_server_that_never_answers_fails_within_the_connect_timeout(runner, tmp_path, fake_postgres):
    server = fake_postgres("silent")
    env, config = dev_env(runner, tmp_path, {"pg_host": "127.0.0.1", "pg_port": server.port, "pg_user": "postgres",
                                             "pg_password": "N0t-used-here"})
    env["INVOKE_PNI_CONNECT_TIMEOUT"] = "2"
    started = time.monotonic()
    result = runner.inv("-f", config, "migrate", "--env=dev", env=env, check=False, timeout=60)
    elapsed = time.monotonic() - started
    assert_one_line_error(result, f"127.0.0.1:{server.port}", "timeout expired", code=1)
    assert server.connections, "the client did connect"
    assert elapsed < 15, f"took {elapsed:.1f}s with connect_timeout 2"
    assert_no_tables(runner)


# -------------------------------------------------------------------------------------------------
# Source schema and configuration values
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("statement", "expected"), [
    ("ALTER TABLE questions DROP COLUMN points", "source table questions: missing column(s) points"),
    ("DROP TABLE questions", "source table questions: missing"),
], ids=["column", "table"])
def test_missing_source_table_or_column_fails_validation_naming_it_and_creates_no_table(runner, statement,
                                                                                        expected):
    runner.seed(3)
    runner.sql(statement)
    result = runner.inv("migrate", "--env=local", check=False)
    assert_one_line_error(result, "stage 02 validate failed", expected, code=1)
    assert_no_tables(runner)


@pytest.mark.parametrize(("how", "expected"), [
    ({"env": {"INVOKE_PNI_WRITERS": "-1"}}, "setting pni.writers=-1 is invalid: use a whole number >= 1"),
    ({"args": ["--strategy=upsert"]}, "unknown strategy 'upsert': known strategies are clean, incremental"),
    ({"config": {"tables": ["pni-lessons", "pni-nope"]}}, "unknown table 'pni-nope' in setting pni.tables"),
    ({"args": ["--clean", "--strategy=incremental"]}, "--clean and --strategy=incremental contradict each other"),
], ids=["negative-writers", "unknown-strategy", "unknown-table", "contradicting-flags"])
def test_invalid_setting_is_one_line_and_touches_no_table(runner, tmp_path, how, expected):
    runner.seed(3)
    runner.inv("load", "--env=local")  # something to lose
    before = items(runner.dynamodb(), "pni-lessons")
    env = runner.environ(**how.get("env", {}))
    args = []
    if "config" in how:
        config = tmp_path / "bad.yaml"
        config.write_text(json.dumps({"pni": how["config"]}))
        args = ["-f", str(config)]
    result = runner.inv(*args, "load", "--env=local", *how.get("args", []), env=env, check=False)
    assert_one_line_error(result, expected, code=2)
    assert items(runner.dynamodb(), "pni-lessons") == before
    assert "stage 02" not in result.stderr  # stopped before anything else ran


EXPLODING = textwrap.dedent('''
    from pni_tasks import hookimpl


    @hookimpl(tryfirst=True)
    def pni_transform(table, group):
        if table.name == "pni-lessons" and group.key == "lessons.id=3":
            raise RuntimeError("cannot handle this lesson")
        return None  # every other row: the built-in transformer
''')

EXPLODING_READER = textwrap.dedent('''
    from pni_tasks import hookimpl


    def _groups():
        raise RuntimeError("the topics feed is down")
        yield


    @hookimpl(tryfirst=True)
    def pni_read_source(table):
        return _groups() if table.name == "pni-topics" else None
''')


@pytest.mark.parametrize(("plugin", "code", "expected"), [
    ("exploding", EXPLODING,
     ["plugin exploding raised RuntimeError", "table pni-lessons", "row lessons.id=3", "cannot handle this lesson"]),
    ("exploding_reader", EXPLODING_READER,
     ["plugin exploding_reader raised RuntimeError", "table pni-topics", "the topics feed is down"]),
])
def test_plugin_that_raises_is_named_with_the_table_and_row(runner, tmp_path, plugin, code, expected):
    runner.seed(5)
    folder = tmp_path / "myplugins"
    folder.mkdir()
    (folder / f"{plugin}.py").write_text(code)
    result = runner.inv("load", "--env=local", env=runner.environ(INVOKE_PNI_PLUGINS_FOLDER=str(folder)),
                        check=False)
    assert_one_line_error(result, "stage 04 load failed", *expected, code=1)
    (record,) = [i for i in items(runner.dynamodb(), "pni-cache-metadata") if i["pk"] == "run"]
    assert record["status"] == "failed" and f"plugin {plugin}" in record["error"]


# -------------------------------------------------------------------------------------------------
# Rows that cannot be migrated
# -------------------------------------------------------------------------------------------------


def test_nan_oversize_and_invalid_json_rows_fail_alone_and_verify_lists_them(runner):
    counts = runner.seed(20, nan=True, oversize=True)
    nan_id, oversize_id = 21, 22
    assert runner.sql("SELECT id FROM lessons WHERE difficulty = 'NaN'")[0][0] == nan_id
    result = runner.inv("load", "--env=local", "--json", check=False)

    line = assert_one_line_error(result, "stage 04 load failed: 2 item(s) failed", code=1)
    assert "pni-lessons" in line
    document = json.loads(result.stdout)
    assert document["status"] == "failed"  # as the run record and the exit code say
    failures = [f for t in document["tables"] for f in t["failures"]]
    assert len(failures) == 2
    nan_line = next(f for f in failures if f"={nan_id}" in f)
    assert nan_line.startswith("pni-lessons lessons.id=21 column difficulty:"), nan_line
    oversize_line = next(f for f in failures if f"[{oversize_id}]" in f)
    assert oversize_line.startswith("pni-lessons lesson_id=[22]:") and "bytes, over DynamoDB's" in oversize_line
    for failure in failures:  # listed on stderr too, one line each
        assert failure in result.stderr

    # the rest migrated: every other lesson, and every passage (their items carry no NaN, no 400 KB)
    stored = {int(i["lesson_id"]): i for i in items(runner.dynamodb(), "pni-lessons")}
    assert sorted(stored) == [i for i in range(1, counts["lessons"] + 1) if i not in (nan_id, oversize_id)]
    assert len(items(runner.dynamodb(), "pni-passages")) == counts["passages"]
    # invalid JSON metadata: a warning naming the lesson, the text kept under metadata_raw
    warned = [line for line in result.stderr.splitlines() if "WARNING" in line and "not valid JSON" in line]
    assert warned
    raw_ids = {int(i["lesson_id"]) for i in stored.values() if "metadata_raw" in i}
    assert raw_ids and all(any(f"lessons.id={i}:" in w for w in warned) for i in raw_ids)
    assert all(stored[i]["metadata"] == {} for i in raw_ids)

    verified = runner.inv_json("verify", "--env=local")  # exit 0
    assert verified["ok"] is True
    lessons = next(t for t in verified["tables"] if t["table"] == "pni-lessons")
    assert (lessons["missing"], lessons["unmigratable"]) == (0, 2)
    assert sorted(lessons["unmigratable_rows"]) == sorted(failures)
