"""From an invoke context to a Session: the only place tasks touch configuration and output setup."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from invoke import Context

from pni_tasks.errors import ConfigError, PniError
from pni_tasks.report import LogReporter, add_secrets, setup_logging
from pni_tasks.session import Session
from pni_tasks.tasks._cli import user_errors

_SESSIONS: dict[tuple[int, str], Session] = {}
_CONFIRMED: set[tuple[int, str]] = set()
PROTECTED_BY_NAME = ("prod",)


def pni_config(c: Context) -> dict[str, Any]:
    return c.config.pni


def logger_for(c: Context, verbose: bool = False) -> logging.Logger:
    logger = logging.getLogger("pni")
    if not logger.handlers:
        setup_logging(verbose=verbose)
    return logger


def session_for(c: Context, env: str | None) -> Session:
    """The command's session for ``env`` (built once, shared by every stage of the command)."""
    pni = pni_config(c)
    name = env or pni.get("env") or "dev"
    cache_key = (id(c.config), name)
    if cache_key not in _SESSIONS:
        logger = logger_for(c)
        session = Session.from_config(pni, name)
        flags = (c.config.get("pni_run") or {}).get("flags") or {}
        strategy = flags.get("strategy")
        if strategy:  # an unknown --strategy fails in stage 01, before any stage touches a table
            session.strategy(strategy)
            if flags.get("clean") and strategy != "clean":  # before create-tables --clean deletes the data
                raise ConfigError(f"--clean and --strategy={strategy} contradict each other: choose one")
        session.pm.register(LogReporter(logger), name="log-reporter")
        add_secrets(logger, session.secrets())
        _SESSIONS[cache_key] = session
    return _SESSIONS[cache_key]


def is_protected(c: Context, env_name: str) -> bool:
    """prod, and any env with ``protected: true`` in its settings."""
    settings = (pni_config(c).get("envs") or {}).get(env_name) or {}
    return env_name in PROTECTED_BY_NAME or bool(settings.get("protected"))


def confirm_destructive(c: Context, env_name: str, what: str, yes: bool) -> None:
    """Before ``what`` deletes data of a protected env: ``--yes``, or the env's name typed on a terminal.

    Asked at most once per command (``inv migrate --clean`` reaches create-tables and load). Without
    a terminal (CI, a pipe) only ``--yes`` confirms, so nothing waits for an answer that cannot come.
    """
    key = (id(c.config), env_name)
    if yes or key in _CONFIRMED or not is_protected(c, env_name):
        return
    if not sys.stdin.isatty():
        raise PniError(f"env {env_name} is protected and {what}: stdin is not a terminal, so pass --yes to confirm")
    sys.stderr.write(f"env {env_name} is protected and {what}: type {env_name} to go on: ")
    sys.stderr.flush()
    typed = sys.stdin.readline().strip()
    if typed != env_name:
        raise PniError(f"you typed {typed!r}, not {env_name!r}: aborted, nothing was deleted")
    _CONFIRMED.add(key)


def is_direct(c: Context, task_name: str) -> bool:
    """Whether the user typed this task (not reached as another task's pre-task)."""
    run = c.config.get("pni_run") or {}
    return task_name in (run.get("direct") or [task_name])


def stage(number: str, name: str) -> Callable:
    """Log the stage as it starts and name it in a failure (``error: stage 03 create-tables failed: ...``)."""
    label = f"stage {number} {name}" if number else name

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def announced(c: Context, *args: Any, **kwargs: Any) -> Any:
            if number:
                env = kwargs.get("env") or pni_config(c).get("env") or "dev"
                logger_for(c, bool(kwargs.get("verbose"))).info(f"{label} (env {env})")
            return function(c, *args, **kwargs)

        return user_errors(announced, label=label)

    return decorate
