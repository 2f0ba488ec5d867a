"""What a person sees: timestamped, coloured log lines on stderr, a progress bar, final tables,
and the ``--json`` document on stdout. Secrets are scrubbed from every log line."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from tabulate import tabulate

from pni_tasks import hookimpl
from pni_tasks.cost import format_usd
from pni_tasks.model import TableStats
from pni_tasks.runinfo import RunInfo, RunResult

LOGGER_NAME = "pni"
COLOURS = {"DEBUG": "\033[2m", "INFO": "\033[36m", "WARNING": "\033[33m", "ERROR": "\033[31m"}
RESET = "\033[0m"


def use_colour(stream: TextIO) -> bool:
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


class RedactingFilter(logging.Filter):
    """Replaces any known secret in a log record with ``***`` (defence in depth: none should get here)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True


class Formatter(logging.Formatter):
    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = record.levelname
        if self.colour:
            return f"\033[2m{stamp}{RESET} {COLOURS.get(level, '')}{level:<7}{RESET} {record.getMessage()}"
        return f"{stamp} {level:<7} {record.getMessage()}"


def setup_logging(secrets: Iterable[str] = (), stream: TextIO | None = None, verbose: bool = False) -> logging.Logger:
    stream = stream or sys.stderr
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(Formatter(use_colour(stream)))
    handler.addFilter(RedactingFilter(secrets))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    return logger


def add_secrets(logger: logging.Logger, secrets: Iterable[str]) -> None:
    for handler in logger.handlers:
        for flt in handler.filters:
            if isinstance(flt, RedactingFilter):
                flt.secrets.extend(s for s in secrets if s and s not in flt.secrets)


class ProgressBar:
    """Groups read and items written per second, with an ETA when the total is known.

    On a terminal it redraws one line; elsewhere it logs a line every ``interval`` seconds.
    """

    def __init__(self, stream: TextIO | None = None, logger: logging.Logger | None = None,
                 interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval if not self.tty else 0.2
        self.table = ""
        self.total: int | None = None

    def start(self, table: str, total: int | None) -> None:
        self.table, self.total = table, total
        self.groups = self.written = 0
        self.started = self.last = time.monotonic()

    def advance(self, groups: int = 0, written: int = 0) -> None:
        self.groups += groups
        self.written += written
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._show(now)

    def _show(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        rate = self.groups / elapsed
        line = f"{self.table}: read {self.groups:,}"
        if self.total:
            share = min(1.0, self.groups / self.total)
            bar = "#" * int(share * 24)
            eta = (self.total - self.groups) / rate if rate else 0
            line = f"{self.table} [{bar:<24}] {share:6.1%} read {self.groups:,}/{self.total:,}, ETA {eta:4.0f}s"
        line += f" | {rate:,.0f} rows/s read, {self.written / elapsed:,.0f} items/s written"
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
        else:
            self.logger.info(line)

    def finish(self) -> None:
        if self.tty and self.groups:
            self.stream.write("\r\033[K")
            self.stream.flush()


class LogReporter:
    """A built-in plugin on the run events: one log line per table and per run."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    @hookimpl
    def pni_run_started(self, run: RunInfo) -> None:
        what = "dry run" if run.dry_run else "run"
        self.logger.info(f"{run.strategy} {what} {run.run_id} of env {run.env} started: {', '.join(run.tables)}")

    @hookimpl
    def pni_table_finished(self, run: RunInfo, stats: TableStats) -> None:
        log = self.logger.warning if stats.failed else self.logger.info
        log(f"{stats.table}: created {stats.created}, updated {stats.updated}, skipped {stats.skipped}, "
            f"deleted {stats.deleted}, failed {stats.failed}, orphans {stats.orphans} in {stats.seconds:.1f}s")
        for warning in stats.warnings[:20]:
            self.logger.warning(warning)

    @hookimpl
    def pni_run_finished(self, run: RunInfo, result: RunResult) -> None:
        log = self.logger.info if result.ok else self.logger.error
        log(f"run {run.run_id} {result.status}" + (f": {result.error}" if result.error else ""))


def stats_table(stats: Sequence[TableStats], total: TableStats | None = None) -> str:
    headers = ["table", "created", "updated", "skipped", "deleted", "failed", "WRU", "RRU",
               "cost if all written", "actual cost", "savings", "savings %"]
    rows = [_stats_row(s) for s in stats]
    if total is not None:
        rows.append(_stats_row(total))
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                    colalign=("left",) + ("right",) * (len(headers) - 1))


def _stats_row(s: TableStats) -> list[Any]:
    return [s.table, s.created, s.updated, s.skipped, s.deleted, s.failed, f"{s.wru:g}", f"{s.rru:g}",
            format_usd(s.cost_full), format_usd(s.cost_actual), format_usd(s.savings), f"{s.savings_pct:.1f}%"]


def requests_table(requests: dict[str, int]) -> str:
    return tabulate(sorted(requests.items()), headers=["DynamoDB operation", "requests"], tablefmt="simple")


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    return tabulate(list(rows), headers=list(headers), tablefmt="simple", disable_numparse=True)


def print_json(document: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
    stream.flush()
