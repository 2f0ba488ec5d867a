"""Resolving one environment from invoke's configuration, and the credentials and endpoints it uses.

invoke owns the configuration hierarchy (``invoke.yaml`` defaults, user and project files,
``-f`` runtime files, ``INVOKE_PNI_...`` variables); this module only reads the resolved
``pni`` tree and turns it into typed settings for the engine. Nothing here prints a secret:
:class:`PgCredentials` keeps the password out of its ``repr`` and :meth:`PgCredentials.describe`.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pni_tasks.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_CREDS_SECTION = "postgres-creds"
REQUIRED_PG_KEYS = ("pg_host", "pg_user", "pg_password")
LIBPQ_VARIABLES = {
    "pg_host": "PGHOST",
    "pg_port": "PGPORT",
    "pg_user": "PGUSER",
    "pg_password": "PGPASSWORD",
    "pg_database": "PGDATABASE",
    "pg_sslmode": "PGSSLMODE",
}
CAPACITY_SOURCES = ("auto", "computed", "server")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass(frozen=True)
class Prices:
    """On-demand prices in USD per million request units."""

    wru_per_million: float
    rru_per_million: float


@dataclass(frozen=True)
class EnvSettings:
    """Everything one environment names: where its data lives and how the tool talks to it."""

    name: str
    region: str
    database: str | None
    endpoint_url: str | None
    table_prefix: str
    local_stack: bool
    capacity_source: str
    prices: Prices
    batch_size: int
    writers: int
    write_deadline_seconds: float
    max_attempts: int
    connect_timeout: float
    prune_max_fraction: float
    verify_show: int
    tables: tuple[str, ...] | None = None
    plugin_settings: Mapping[str, Any] = field(default_factory=dict)

    def table_name(self, base: str) -> str:
        """The physical DynamoDB table name of a plugin's table in this environment."""
        name = f"{self.table_prefix}{base}"
        if not _TABLE_NAME.match(name):
            raise ConfigError(
                f"table name {name!r} of env {self.name!r} is not a valid DynamoDB table name "
                "(3-255 characters of A-Z a-z 0-9 _ - .): fix table_prefix"
            )
        return name

    @property
    def metadata_table(self) -> str:
        return self.table_name("pni-cache-metadata")

    def public_view(self) -> dict[str, Any]:
        """The settings a user may see (no secret is held here, but keep the view explicit)."""
        return {
            "env": self.name,
            "region": self.region,
            "endpoint_url": self.endpoint_url or "AWS (boto3 default)",
            "database": self.database,
            "table_prefix": self.table_prefix,
            "capacity_source": self.capacity_source,
            "prices_per_million": {"wru": self.prices.wru_per_million, "rru": self.prices.rru_per_million},
        }


def known_envs(pni: Mapping[str, Any]) -> list[str]:
    return sorted((pni.get("envs") or {}).keys())


def _tables_setting(value: Any) -> tuple[str, ...] | None:
    # INVOKE_PNI_TABLES arrives as one string (invoke cannot cast a variable to a list):
    # "pni-lessons,pni-topics" means two tables, not the characters of one name.
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    return tuple(value) if value else None


def check_invoke_variables(pni: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> None:
    """Fail in one line on an ``INVOKE_PNI_...`` variable invoke could not cast to its setting's type.

    invoke casts each variable to the type of the value it overrides (``int("abc")``) and lets
    the ``ValueError`` escape as a traceback, without naming the variable; lists cannot come
    from a variable at all. Call this before invoke loads the shell environment.
    """
    for path, current in _leaves(pni, ("pni",)):
        variable = "INVOKE_" + "_".join(path).upper()
        if variable not in environ or isinstance(current, (bool, str)) or current is None:
            continue
        setting, value = ".".join(path), environ[variable]
        if isinstance(current, (list, tuple)):
            raise ConfigError(f"environment variable {variable} cannot set {setting}, which is a list: "
                              "set it in a config file instead (inv -f mine.yaml ...)")
        try:
            type(current)(value)
        except ValueError:
            kind = "a whole number" if isinstance(current, int) else "a number"
            raise ConfigError(f"environment variable {variable}={value!r} is invalid for setting {setting}: "
                              f"use {kind}") from None


def _leaves(tree: Mapping[str, Any], path: tuple[str, ...]):
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


def dynamodb_endpoint(env: EnvSettings, environ: Mapping[str, str] = os.environ) -> str | None:
    """Where the env's DynamoDB requests go; ``None`` is AWS itself.

    The env's own ``endpoint_url`` wins: it is passed to boto3 explicitly, and boto3 ranks an
    explicit endpoint above ``AWS_ENDPOINT_URL_DYNAMODB`` and ``AWS_ENDPOINT_URL`` (which it
    honours by itself when the setting is null). A config file names an env's endpoint on
    purpose; a variable left set in a shell should not send prod's writes elsewhere.
    """
    return env.endpoint_url or environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL") or None


def _positive_int(pni: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    value = pni.get(key)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum or str(value).strip() != str(number):
        raise ConfigError(f"setting pni.{key}={value!r} is invalid: use a whole number >= {minimum}")
    return number


def _positive_float(pni: Mapping[str, Any], key: str, *, allow_zero: bool = False) -> float:
    value = pni.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (number > 0 or (allow_zero and number == 0)):
        raise ConfigError(f"setting pni.{key}={value!r} is invalid: use a positive number")
    return number


def env_settings(pni: Mapping[str, Any], name: str | None) -> EnvSettings:
    """Resolve environment ``name`` (default ``pni.env``) from the ``pni`` configuration tree."""
    name = name or pni.get("env") or "dev"
    envs = pni.get("envs") or {}
    if name not in envs:
        raise ConfigError(
            f"unknown env {name!r}: known envs are {', '.join(known_envs(pni))} "
            "(add one under pni.envs in your config file)"
        )
    env = envs[name] or {}
    region = env.get("region")
    if not region:
        raise ConfigError(f"env {name!r} has no region: set pni.envs.{name}.region")
    capacity_source = env.get("capacity_source") or "auto"
    if capacity_source not in CAPACITY_SOURCES:
        raise ConfigError(
            f"setting pni.envs.{name}.capacity_source={capacity_source!r} is invalid: "
            f"use one of {', '.join(CAPACITY_SOURCES)}"
        )
    all_prices = pni.get("prices") or {}
    region_prices = all_prices.get(region) or all_prices.get("default")
    if not region_prices:
        raise ConfigError(f"no prices for region {region!r} of env {name!r}: add pni.prices.{region}")
    settings = EnvSettings(
        name=name,
        region=region,
        database=env.get("database"),
        endpoint_url=env.get("endpoint_url") or None,
        table_prefix=env.get("table_prefix") or "",
        local_stack=bool(env.get("local_stack")),
        capacity_source=capacity_source,
        prices=Prices(float(region_prices["wru_per_million"]), float(region_prices["rru_per_million"])),
        batch_size=_positive_int(pni, "batch_size"),
        writers=_positive_int(pni, "writers"),
        write_deadline_seconds=_positive_float(pni, "write_deadline_seconds"),
        max_attempts=_positive_int(pni, "max_attempts"),
        connect_timeout=_positive_float(pni, "connect_timeout"),
        prune_max_fraction=_positive_float(pni, "prune_max_fraction", allow_zero=True),
        verify_show=_positive_int(pni, "verify_show"),
        tables=_tables_setting(pni.get("tables")),
        plugin_settings=dict(pni.get("plugin_settings") or {}),
    )
    settings.table_name("pni-cache-metadata")  # fail early on a bad prefix
    return settings


# -------------------------------------------------------------------------------------------------
# PostgreSQL credentials
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgCredentials:
    """How to reach PostgreSQL. The password and DSN are never shown by ``repr`` or ``describe``."""

    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    sslmode: str | None = None
    password: str | None = field(default=None, repr=False)
    dsn: str | None = field(default=None, repr=False)
    origin: str = ""

    def connect_kwargs(self, connect_timeout: float) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"connect_timeout": max(1, int(connect_timeout)), "application_name": "pni-migrate"}
        if self.dsn:
            kwargs["dsn"] = self.dsn
            if self.database:
                kwargs["dbname"] = self.database
            return kwargs
        for attr, kw in (("host", "host"), ("port", "port"), ("user", "user"),
                         ("password", "password"), ("database", "dbname"), ("sslmode", "sslmode")):
            value = getattr(self, attr)
            if value not in (None, ""):
                kwargs[kw] = value
        return kwargs

    def describe(self) -> str:
        """``user@host:port/database (origin)``, safe to print."""
        if self.dsn:
            return f"PNI_PG_DSN ({_redact_dsn(self.dsn)})" + (f" database {self.database}" if self.database else "")
        where = f"{self.host or 'localhost'}:{self.port or 5432}/{self.database or '?'}"
        return f"{self.user or '?'}@{where} ({self.origin})"

    def secrets(self) -> list[str]:
        """Values that must never appear in output (used by the redacting log filter)."""
        found = [s for s in (self.password,) if s]
        if self.dsn:
            found += _dsn_passwords(self.dsn)
        return found


# A URL's password (``scheme://user:PASSWORD@host``), and a key=value one, bare or quoted
# (libpq quotes values with spaces: ``password='a b\\'c'``).
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)([^@]+)(@)")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^'\s]\S*)")


def _dsn_passwords(dsn: str) -> list[str]:
    found = [match.group(2) for match in _URL_PASSWORD.finditer(dsn)]
    for match in _KEYWORD_PASSWORD.finditer(dsn):
        value = match.group(2)
        if value.startswith("'"):  # the quoted text, its inside, and the password it stands for
            found += [value, value[1:-1], re.sub(r"\\(.)", r"\1", value[1:-1])]
        else:
            found.append(value)
    return [p for p in found if p]


def _redact_dsn(dsn: str) -> str:
    redacted = _URL_PASSWORD.sub(r"\1***\3", dsn)
    return _KEYWORD_PASSWORD.sub(r"\1***", redacted)


def aws_credentials_file(environ: Mapping[str, str] = os.environ) -> Path:
    """The AWS shared credentials file, located the way boto3 locates it."""
    return Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials").expanduser()


def _read_creds_section(path: Path) -> dict[str, str] | None:
    if not path.is_file():
        return None
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"cannot parse {path}: {exc.message.splitlines()[0]}: fix the file's syntax") from None
    if not parser.has_section(PG_CREDS_SECTION):
        return None
    return dict(parser.items(PG_CREDS_SECTION))


def pg_credentials(env: EnvSettings, local_defaults: Mapping[str, Any] | None = None,
                   environ: Mapping[str, str] = os.environ) -> PgCredentials:
    """PostgreSQL credentials for ``env``, lowest to highest precedence:

    the ``[postgres-creds]`` section of the AWS shared credentials file (or, for a local-stack env,
    the embedded server), then the libpq variables ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``/
    ``PGDATABASE``, then a whole ``PNI_PG_DSN``. The env's own ``database`` wins over the file's
    ``pg_database`` (which is shared by every env); ``PGDATABASE`` wins over both.
    """
    if environ.get("PNI_PG_DSN"):
        return PgCredentials(dsn=environ["PNI_PG_DSN"], database=environ.get("PGDATABASE") or None,
                             origin="PNI_PG_DSN")
    path = aws_credentials_file(environ)
    if env.local_stack:
        local = dict(local_defaults or {})
        values = {"pg_host": "127.0.0.1", "pg_port": str(local.get("pg_port", 54329)), "pg_user": "postgres"}
        origin = "embedded local server"
    else:
        section = _read_creds_section(path)
        values = dict(section or {})
        origin = f"[{PG_CREDS_SECTION}] in {path}"
        missing = [key for key in REQUIRED_PG_KEYS if not values.get(key) and not environ.get(LIBPQ_VARIABLES[key])]
        if missing:
            if not path.is_file():
                raise ConfigError(
                    f"no PostgreSQL credentials for env {env.name!r}: {path} does not exist: create it with a "
                    f"[{PG_CREDS_SECTION}] section ({', '.join(REQUIRED_PG_KEYS)}), or set the libpq variables "
                    "or PNI_PG_DSN"
                )
            if section is None:
                raise ConfigError(
                    f"no [{PG_CREDS_SECTION}] section in {path} (env {env.name!r}): add one with "
                    f"{', '.join(REQUIRED_PG_KEYS)}, or set the libpq variables or PNI_PG_DSN"
                )
            raise ConfigError(
                f"[{PG_CREDS_SECTION}] in {path} has no {missing[0]} (env {env.name!r}): add it, "
                f"or set {LIBPQ_VARIABLES[missing[0]]}"
            )
    for key, variable in LIBPQ_VARIABLES.items():
        if environ.get(variable):
            values[key] = environ[variable]
            origin = f"{origin} + {variable}" if variable != "PGPASSWORD" else origin
    database = environ.get("PGDATABASE") or env.database or values.get("pg_database")
    port = values.get("pg_port") or "5432"
    try:
        port_number = int(port)
    except ValueError:
        raise ConfigError(f"pg_port={port!r} in {origin} is not a port number: fix it") from None
    return PgCredentials(
        host=values.get("pg_host"),
        port=port_number,
        user=values.get("pg_user"),
        password=values.get("pg_password"),
        database=database,
        sslmode=values.get("pg_sslmode"),
        origin=origin,
    )
