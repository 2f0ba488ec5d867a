"""From an invoke context to a Session: the only place tasks touch configuration and output setup."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from invoke import Context

from pni_tasks.report import LogReporter, add_secrets, setup_logging
from pni_tasks.session import Session
from pni_tasks.tasks._cli import user_errors

_SESSIONS: dict[tuple[int, str], Session] = {}


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
        strategy = ((c.config.get("pni_run") or {}).get("flags") or {}).get("strategy")
        if strategy:  # an unknown --strategy fails in stage 01, before any stage touches a table
            session.strategy(strategy)
        session.pm.register(LogReporter(logger), name="log-reporter")
        add_secrets(logger, session.secrets())
        _SESSIONS[cache_key] = session
    return _SESSIONS[cache_key]


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
