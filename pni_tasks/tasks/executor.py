"""Run-wide flags reach every stage of one command.

invoke's pre-tasks are called without arguments. ``RunWideExecutor`` (named in ``invoke.yaml``
under ``tasks.executor_class``) takes the run-wide flags (``RUN_WIDE_FLAGS``) given to the task
you typed and hands them to every pre-task that accepts them, before invoke de-duplicates the
calls, so ``inv load --env=prod`` runs setup, validate and create-tables for prod, each once.
"""

from __future__ import annotations

from typing import Any

from invoke import Call, Executor
from invoke.exceptions import Exit

from pni_tasks.config import check_invoke_variables
from pni_tasks.errors import PniError

RUN_WIDE_FLAGS = ("env", "clean", "strategy", "dry_run", "json", "prune", "force", "rescan", "verbose", "yes")


def _accepted(call: Call) -> set[str]:
    return {arg.name for arg in call.task.get_arguments()} if hasattr(call.task, "get_arguments") else set()


class RunWideExecutor(Executor):
    def execute(self, *tasks: Any) -> dict:
        try:  # before invoke casts INVOKE_PNI_... variables itself, which fails with a traceback
            check_invoke_variables(self.config.get("pni") or {})
        except PniError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        calls = self.normalize(tasks)
        self.run_wide = {}
        for call in calls:
            for name in RUN_WIDE_FLAGS:
                value = call.kwargs.get(name)
                if value not in (None, False) and name not in self.run_wide:
                    self.run_wide[name] = value
        self.direct_names = [call.task.name for call in calls]
        self.config.pni_run = {"direct": self.direct_names, "flags": dict(self.run_wide)}
        return super().execute(*tasks)

    def expand_calls(self, calls: list) -> list:
        expanded = super().expand_calls(calls)
        run_wide = getattr(self, "run_wide", {})
        for call in expanded:
            accepted = _accepted(call)
            for name, value in run_wide.items():
                if name in accepted and call.kwargs.get(name) in (None, False):
                    call.kwargs[name] = value
        return expanded
