"""Shared fixtures: a PostgreSQL server and throwaway databases, moto's DynamoDB server, fake AWS credentials.

PostgreSQL: ``PNI_TEST_PG_DSN`` (a server-level DSN, e.g. postgresql://postgres@127.0.0.1:5432/postgres)
when set, else an embedded server started for the session. Each test that asks for ``pg_dsn`` or
``pni_db`` gets its own database, dropped afterwards. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from pni_tasks import localstack, sampledata

# Variables that could point a test at a developer's real AWS account or database.
LEAKY_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                   "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                   "PNI_PG_DSN", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE",
                   "PGSERVICE", "PGSSLMODE")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((localstack.LOOPBACK, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def fake_aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy AWS credentials and empty AWS config files: no test ever reads the real ~/.aws."""
    aws_dir = tmp_path_factory.mktemp("aws")
    credentials, config = aws_dir / "credentials", aws_dir / "config"
    credentials.touch()
    config.touch()
    with pytest.MonkeyPatch.context() as patch:
        for variable in LEAKY_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        patch.setenv("AWS_CONFIG_FILE", str(config))
        yield


# -------------------------------------------------------------------------------------------------
# PostgreSQL
# -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server-level DSN: ``PNI_TEST_PG_DSN``, or an embedded server for the session."""
    configured = os.environ.get("PNI_TEST_PG_DSN")
    if configured:
        yield configured
        return
    state_dir = tmp_path_factory.mktemp("pg")
    dsn = localstack.postgres_up(state_dir, free_port())
    try:
        yield dsn
    finally:
        localstack.postgres_down(state_dir)


@pytest.fixture
def pg_dsn(pg_server_dsn: str) -> Iterator[str]:
    """A fresh, empty database (UTF-8, from template0) on the test server, dropped after the test."""
    name = f"pni_test_{uuid.uuid4().hex[:12]}"
    dsn = localstack.ensure_database(pg_server_dsn, name)
    try:
        yield dsn
    finally:
        localstack.drop_database(pg_server_dsn, name)


@pytest.fixture
def pni_db(pg_dsn: str) -> str:
    """Like ``pg_dsn``, with the contract schema created (no rows)."""
    with contextlib.closing(psycopg2.connect(pg_dsn)) as conn:
        sampledata.create_schema(conn)
    return pg_dsn


# -------------------------------------------------------------------------------------------------
# moto's DynamoDB server
# -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server, in a thread of the test process, for the session: ``http://127.0.0.1:PORT``."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=localstack.LOOPBACK, port=port)
    server.start()
    try:
        yield f"http://{localstack.LOOPBACK}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_reset(moto_endpoint: str) -> None:
    """Forget every table and item moto holds, so that each test starts from an empty DynamoDB."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback server
        response.read()


@pytest.fixture
def dynamodb_endpoint(moto_endpoint: str, moto_reset: None) -> str:
    """moto's endpoint, emptied for this test."""
    return moto_endpoint


@pytest.fixture
def tmp_state_dir(tmp_path: Path) -> Path:
    """A state dir for the local stack of one test (short path, for PostgreSQL's unix socket)."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    return state_dir


# -------------------------------------------------------------------------------------------------
# The real inv command (end-to-end tests)
# -------------------------------------------------------------------------------------------------


@pytest.fixture
def runner(pni_db: str, dynamodb_endpoint: str, tmp_path: Path):
    """Runs ``inv`` in a subprocess with env local pointed at this test's database and moto's server."""
    from invhelp import InvRunner

    home = tmp_path / "home"
    home.mkdir()
    return InvRunner(pg_dsn=pni_db, endpoint=dynamodb_endpoint, home=home)
