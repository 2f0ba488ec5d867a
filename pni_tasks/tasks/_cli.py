"""How a user error reaches the terminal: one line and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from pni_tasks.errors import Interrupted, PniError

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(function: F | None = None, *, label: str = "") -> Any:
    """Decorate a task body: a PniError becomes ``error: [<label> failed: ]<message>`` and its exit
    code, Ctrl-C exit 130; an ``Exit`` raised by the body gets the label too.

    invoke prints an Exit's message without a traceback, which is what a user can act on. Put it
    below ``@task``: ``functools.wraps`` keeps the signature invoke reads the flags from.
    """
    prefix = f"{label} failed: " if label else ""

    def decorate(body: F) -> F:
        @functools.wraps(body)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return body(*args, **kwargs)
            except Interrupted as exc:  # Ctrl-C in a run the engine recorded as interrupted: not "failed"
                raise Exit(f"error: {label + ' interrupted: ' if label else ''}{exc}", code=exc.exit_code) from None
            except PniError as exc:
                raise Exit(f"error: {prefix}{exc}", code=exc.exit_code) from None
            except KeyboardInterrupt:
                raise Exit(f"error: {label} interrupted by the user" if label else "interrupted", code=130) from None
            except Exit as exc:
                if exc.message and not str(exc.message).startswith("error:"):
                    raise Exit(f"error: {prefix}{exc.message}", code=exc.code) from None
                raise

        return wrapper  # type: ignore[return-value]

    return decorate(function) if function is not None else decorate
