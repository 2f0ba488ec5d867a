"""Helpers shared by task modules: how a user error reaches the terminal."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from pni_tasks.errors import PniError

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(function: F) -> F:
    """Decorate a task body: a PniError becomes ``error: <message>`` and its exit code, Ctrl-C exit 130.

    invoke prints an Exit's message without a traceback, which is what a user can act on. Put it
    below ``@task``: ``functools.wraps`` keeps the signature invoke reads the flags from.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PniError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]
