"""Running the real ``inv`` command in a subprocess against moto's server and a test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg2

REPO = Path(__file__).resolve().parent.parent
INV = [sys.executable, "-m", "invoke"]


@dataclass
class InvRunner:
    """``inv`` with the local env pointed at one test database and moto's server."""

    pg_dsn: str
    endpoint: str
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def environ(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PNI_", "PG"))}
        env.update({
            "PNI_PG_DSN": self.pg_dsn,
            "INVOKE_PNI_ENVS_LOCAL_ENDPOINT_URL": self.endpoint,
            "INVOKE_PNI_LOCAL_STATE_DIR": str(self.home / "state"),
            "NO_COLOR": "1",
            "HOME": str(self.home),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def inv(self, *args: str, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([*INV, *args], cwd=cwd or REPO, env=env or self.environ(), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"inv {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}"
                                 f"\n--- stderr\n{result.stderr}")
        return result

    def inv_json(self, *args: str, **kwargs: Any) -> dict:
        result = self.inv(*args, "--json", **kwargs)
        return json.loads(result.stdout)

    def dynamodb(self, region: str = "us-east-1") -> Any:
        return boto3.client("dynamodb", region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def sql(self, statement: str, params: Any = None) -> list[tuple]:
        conn = psycopg2.connect(self.pg_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def sql_on(self, database: str, statement: str) -> None:
        with psycopg2.connect(self.pg_dsn.rsplit("/", 1)[0] + "/" + database) as conn, conn.cursor() as cur:
            cur.execute(statement)
        conn.close()

    def drop_database(self, database: str) -> None:
        conn = psycopg2.connect(self.pg_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
            cur.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.close()

    def seed(self, lessons: int, **kwargs: Any) -> dict[str, int]:
        from pni_tasks import sampledata

        conn = psycopg2.connect(self.pg_dsn)
        try:
            counts = sampledata.seed(conn, lessons, **kwargs)
            conn.commit()
        finally:
            conn.close()
        return counts


def items(client: Any, table: str) -> list[dict]:
    """Every item of a table, deserialized."""
    from pni_tasks.sink import deserialize

    found = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        found.extend(deserialize(item) for item in page["Items"])
    return found


def table_names(client: Any) -> list[str]:
    return sorted(client.list_tables()["TableNames"])
