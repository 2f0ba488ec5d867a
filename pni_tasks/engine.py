"""One run, start to end: PostgreSQL rows -> transformer plugins -> items (with hashes)
-> write strategy -> DynamoDB -> statistics -> run events (reporters, the run record).

The engine knows nothing of invoke: tasks build a :class:`~pni_tasks.session.Session` and
options, call these functions, and turn their results into output and exit codes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pni_tasks.config import dynamodb_endpoint
from pni_tasks.cost import cost
from pni_tasks.errors import Interrupted, PluginError, PniError, TargetError
from pni_tasks.model import Action, ItemFailure, PreparedItem, SourceGroup, TableSpec, TableStats, key_text
from pni_tasks.runinfo import RunInfo, RunResult, utc_now
from pni_tasks.session import Session
from pni_tasks.sink import BatchWriter, WriteOutcome, WriteRequest, delete_table, describe_table
from pni_tasks.source import Source
from pni_tasks.target import TargetTable
from pni_tasks.transform import TransformContext, items_of_group, raising_plugin


@dataclass(frozen=True)
class LoadOptions:
    strategy: str = "incremental"
    dry_run: bool = False
    prune: bool = False
    force: bool = False
    rescan: bool = False


class Progress:
    """What the engine tells a progress display; the default shows nothing."""

    def start(self, table: str, total: int | None) -> None: ...
    def advance(self, groups: int = 0, written: int = 0) -> None: ...
    def finish(self) -> None: ...


# -------------------------------------------------------------------------------------------------
# Stage 03: tables
# -------------------------------------------------------------------------------------------------


def create_tables(session: Session, *, recreate: bool = False) -> list[tuple[str, str]]:
    """Create the env's missing tables (data tables and the metadata table); with ``recreate``
    delete and recreate the data tables. Returns (table, what happened) pairs."""
    done = []
    for spec in session.tables:
        target = TargetTable(session, spec)
        if recreate and target.exists:
            target.recreate()
            done.append((target.name, "recreated"))
        elif target.exists:
            done.append((target.name, "exists"))
        else:
            target.ensure_exists()
            done.append((target.name, "created"))
    if session.metadata.exists():
        done.append((session.metadata.table_name, "exists"))
    else:
        session.metadata.ensure_table()
        done.append((session.metadata.table_name, "created"))
    return done


def delete_tables(session: Session) -> list[str]:
    """Delete the env's data tables and metadata table (waiting until gone); the names deleted."""
    deleted = []
    for name in [session.env.table_name(spec.name) for spec in session.tables] + [session.metadata.table_name]:
        if delete_table(session.client, name):
            deleted.append(name)
    session.metadata.forget()
    return deleted


# -------------------------------------------------------------------------------------------------
# Stage 04: load
# -------------------------------------------------------------------------------------------------


def load(session: Session, options: LoadOptions, progress: Progress | None = None) -> tuple[RunInfo, RunResult]:
    """Migrate every selected table with the chosen strategy. Never raises for item failures:
    they are in the result. Raises PniError (after recording the run) when the run cannot go on."""
    strategy = session.strategy(options.strategy)
    progress = progress or Progress()
    run = RunInfo(env=session.env.name, strategy=strategy.name, dry_run=options.dry_run,
                  tables=[session.env.table_name(spec.name) for spec in session.tables],
                  options={k: v for k, v in asdict(options).items() if k != "strategy"})
    metadata_before = (session.metadata.wru, session.metadata.usage.rru) if not options.dry_run else (0.0, 0.0)
    if not options.dry_run:
        session.metadata.ensure_table()
        stale = session.metadata.mark_stale_runs_interrupted(run.started_at)
        rescan = options.rescan or bool(stale)
    else:
        rescan = options.rescan
    session.pm.hook.pni_run_started(run=run)
    all_stats: list[TableStats] = []
    status, error = "succeeded", None
    failure: Exception | None = None
    refusals: list[str] = []
    stop = threading.Event()
    try:
        with session.open_source() as source:
            for spec in session.tables:
                stats, refusal = _load_table(session, spec, strategy, options, run, source, progress, stop,
                                             rescan=rescan, collect=all_stats)
                if refusal:
                    refusals.append(refusal)
                session.pm.hook.pni_table_finished(run=run, stats=stats)
    except KeyboardInterrupt:
        status, error = "interrupted", "stopped by the user (Ctrl-C)"
    except PniError as exc:
        status, error, failure = "failed", str(exc), exc
    except Exception as exc:  # a bug: the run is still recorded as failed (not left "running"), then it shows
        status, error, failure = "failed", f"{type(exc).__name__}: {exc}", exc
    result = _result(session, run, status, all_stats, error, refusals, metadata_before)
    if status == "succeeded" and (result.failures or result.refusals):
        result.status = "failed"  # items failed: the exit is non-zero, so the log, --json and the record say so
    session.pm.hook.pni_run_finished(run=run, result=result)
    if status == "interrupted":
        raise Interrupted(f"run {run.run_id} stopped by Ctrl-C and recorded as interrupted ({len(all_stats)} "
                          "table(s) touched): rerun the same command")
    if failure is not None:
        raise failure  # its own type: a ConfigError keeps exit code 2, a PluginError names the plugin
    return run, result


def _result(session: Session, run: RunInfo, status: str, all_stats: list[TableStats], error: str | None,
            refusals: list[str], metadata_before: tuple[float, float]) -> RunResult:
    """Totals over the tables, plus a row for what the run spent on its own records and manifests."""
    total = TableStats(table="total")
    if not run.dry_run:
        overhead = TableStats(table=session.metadata.table_name,
                              wru=session.metadata.wru - metadata_before[0],
                              rru=session.metadata.usage.rru - metadata_before[1])
        overhead.cost_actual = cost(overhead.wru, overhead.rru, session.env.prices)
        all_stats = [*all_stats, overhead]
    for stats in all_stats:
        for name in (*TableStats.COUNTS, "orphans", "items", "source_groups"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        for name in ("wru", "rru", "full_wru", "cost_full", "cost_actual", "seconds"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.failures.extend(stats.failures)
        total.warnings.extend(stats.warnings)
    total.requests = session.counter.snapshot()
    return RunResult(status=status, tables=all_stats, total=total, error=error, refusals=refusals)


def _load_table(session: Session, spec: TableSpec, strategy: Any, options: LoadOptions, run: RunInfo,
                source: Source, progress: Progress, stop: threading.Event, *, rescan: bool,
                collect: list[TableStats]) -> tuple[TableStats, str | None]:
    started = time.monotonic()
    target = TargetTable(session, spec, dry_run=options.dry_run, rescan=rescan)
    stats = TableStats(table=target.name)
    collect.append(stats)
    requests_before = session.counter.snapshot()
    strategy.prepare(target)
    known_before = dict(target.known())  # loads hashes before any write changes them
    written: dict[str, str] = {}
    deleted: set[str] = set()
    actions: dict[str, Action] = {}
    server = {"wru": 0.0, "reported": False}

    def on_outcome(outcome: WriteOutcome) -> None:
        for request in outcome.written:
            text = key_text(request.key)
            if request.item is None:
                stats.deleted += 1
                stats.wru += 1
                deleted.add(text)
            else:
                stats.count(actions.pop(text))
                stats.wru += request.tag
                written[text] = request.item["content_hash"]
        for request, reason in outcome.failed:
            actions.pop(key_text(request.key), None)
            stats.failed += 1
            stats.failures.append(ItemFailure(target.name, f"{'/'.join(spec.key_names)}={key_text(request.key)}",
                                              reason))
        server["wru"] += outcome.server_wru
        server["reported"] = server["reported"] or outcome.server_reported
        progress.advance(written=len(outcome.written))

    writer = None if options.dry_run else BatchWriter(
        session.client, target.name, spec.key_names, writers=session.env.writers,
        deadline_seconds=session.env.write_deadline_seconds, on_outcome=on_outcome, stop=stop)
    seen: set[str] = set()
    refusal = None
    progress.start(target.name, _source_total(source, spec))
    try:
        for item in _prepared_items(session, spec, source, stats, run, progress):
            text = key_text(item.key)
            if text in seen:
                stats.failed += 1
                stats.failures.append(ItemFailure(target.name, f"{'/'.join(spec.key_names)}={text}",
                                                  f"plugin {spec.plugin} produced this key twice: kept the first"))
                continue
            seen.add(text)
            stats.items += 1
            stats.full_wru += item.write_units
            action = strategy.decide(target, item)
            if action is Action.SKIP or writer is None:
                stats.count(action)
                if action is not Action.SKIP:
                    stats.wru += item.write_units
                continue
            actions[text] = action
            writer.add(WriteRequest(key=item.key, key_item={}, item=item.item, size=item.size, tag=item.write_units))
        orphans = list(strategy.orphans(target, seen))
        stats.orphans = len(orphans)
        if orphans and options.prune:
            refusal = _prune(session, target, orphans, options, stats, writer)
    except BaseException:
        stop.set()  # batches in flight finish their current attempt; nothing new is retried
        raise
    finally:
        if writer is not None:
            writer.close()
        progress.finish()
        if not options.dry_run:
            _save_state(session, target, known_before, written, deleted)
        stats.rru += target.usage.rru
        _price(session, stats, server)
        stats.requests = _difference(session.counter.snapshot(), requests_before)
        stats.seconds = time.monotonic() - started
    return stats, refusal


def _prepared_items(session: Session, spec: TableSpec, source: Source, stats: TableStats, run: RunInfo,
                    progress: Progress) -> Iterator[PreparedItem]:
    context = TransformContext(migrated_at=_second_precision(run.started_at),
                               settings=session.plugin_settings(spec))
    read_source = session.pm.hook.pni_read_source
    try:
        groups = read_source(table=spec, source=source, settings=session.plugin_settings(spec))
    except PniError:
        raise
    except Exception as exc:
        raise _reader_error(read_source, spec, exc, None) from exc
    if groups is None:
        raise PniError(f"no plugin reads the source of table {spec.name} (plugin {spec.plugin}): "
                       "implement pni_read_source")

    def on_failure(failure: ItemFailure) -> None:
        stats.failed += 1
        stats.failures.append(failure)

    for group in _groups_read(read_source, spec, groups):
        stats.source_groups += 1
        yield from items_of_group(session.pm, spec, group, context, on_failure)
        if context.warnings:
            stats.warnings.extend(f"{stats.table}: {warning}" for warning in context.warnings)
            context.warnings.clear()
        progress.advance(groups=1)


def _groups_read(read_source: Any, spec: TableSpec, groups: Iterable[SourceGroup]) -> Iterator[SourceGroup]:
    """``groups``, with an exception a plugin's reader raises turned into one line naming the plugin."""
    iterator = iter(groups)
    last_key = None
    while True:
        try:
            group = next(iterator)
        except StopIteration:
            return
        except PniError:  # already one line (a lost connection, a refused query)
            raise
        except Exception as exc:
            raise _reader_error(read_source, spec, exc, last_key) from exc
        last_key = group.key
        yield group


def _reader_error(read_source: Any, spec: TableSpec, exc: Exception, last_key: str | None) -> PluginError:
    plugin = raising_plugin(read_source, exc) or spec.plugin
    after = f" after row {last_key}" if last_key else ""
    return PluginError(f"plugin {plugin} raised {type(exc).__name__} reading the source of table {spec.name}"
                       f"{after}: {exc}")


def _second_precision(timestamp: str) -> str:
    # migrated_at follows the contract's timestamp form; the run id keeps microseconds apart.
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    return f"{head}Z" if not fraction.strip("0") else f"{head}.{fraction}Z"


def _prune(session: Session, target: TargetTable, orphans: list[str], options: LoadOptions,
           stats: TableStats, writer: BatchWriter | None) -> str | None:
    known = len(target.known()) or 1
    limit = session.env.prune_max_fraction
    if len(orphans) / known > limit and not options.force:
        return (f"refused to prune {len(orphans)} of {known} items ({100 * len(orphans) / known:.1f}%) from "
                f"{target.name}: more than {limit:.0%}; rerun with --force if that is intended")
    for text in orphans:
        if writer is None:
            stats.deleted += 1
            stats.wru += 1
        else:
            item_key = target.key_item(text)
            writer.add(WriteRequest(key=tuple(item_key.values()), key_item=item_key, size=0, tag=1))
    return None


def _save_state(session: Session, target: TargetTable, known_before: dict[str, str], written: dict[str, str],
                deleted: set[str]) -> None:
    """Record in the manifest what the table now holds: the hashes known before plus what this run wrote."""
    if not target.exists:
        return
    target.info = describe_table(session.client, target.name)
    if not written and not deleted and target.manifest is not None:
        return  # nothing changed: the manifest is still true and costs nothing to keep
    entries = {k: v for k, v in known_before.items() if k not in deleted}
    entries.update(written)
    session.metadata.write_manifest(target.name, target.info.identity, entries, target.manifest,
                                    fresh=target.name in session.fresh_tables)


def _price(session: Session, stats: TableStats, server: dict[str, Any]) -> None:
    source = session.env.capacity_source
    if source == "server" or (source == "auto" and server["reported"]):
        stats.wru = server["wru"]
    prices = session.env.prices
    stats.cost_full = cost(stats.full_wru, 0, prices)
    stats.cost_actual = cost(stats.wru, stats.rru, prices)


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {op: count - before.get(op, 0) for op, count in after.items() if count - before.get(op, 0)}


def _source_total(source: Source, spec: TableSpec) -> int | None:
    driving = next(iter(spec.source_columns), None)
    if driving is None:
        return None
    try:
        return source.row_count(driving)
    except PniError:
        return None


# -------------------------------------------------------------------------------------------------
# Stage 05: verify
# -------------------------------------------------------------------------------------------------


@dataclass
class TableDifferences:
    table: str
    expected: int = 0
    stored: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    unmigratable: list[str] = field(default_factory=list)
    rru: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def as_dict(self, show: int) -> dict[str, Any]:
        return {
            "table": self.table, "expected": self.expected, "stored": self.stored, "ok": self.ok,
            "missing": len(self.missing), "extra": len(self.extra), "different": len(self.different),
            "unmigratable": len(self.unmigratable),
            "missing_keys": self.missing[:show], "extra_keys": self.extra[:show],
            "different_keys": self.different[:show], "unmigratable_rows": self.unmigratable[:show],
            "rru": self.rru,
        }


def verify(session: Session, on_table: Callable[[TableDifferences], None] | None = None) -> list[TableDifferences]:
    """Compare each table in DynamoDB with what the plugins produce from PostgreSQL now.

    Stored items are re-hashed (their ``content_hash`` attribute is not trusted), so an item
    edited by hand shows up as different. Rows that cannot be migrated (NaN, oversize) are
    listed as unmigratable, not as differences: ``inv load`` already failed on them.
    """
    from pni_tasks.hashing import content_hash
    from pni_tasks.sink import ReadUsage, scan

    results = []
    run = RunInfo(env=session.env.name, strategy="verify", tables=[])
    with session.open_source() as source:
        for spec in session.tables:
            name = session.env.table_name(spec.name)
            result = TableDifferences(table=name)
            stats = TableStats(table=name)
            expected = {key_text(item.key): item.content_hash
                        for item in _prepared_items(session, spec, source, stats, run, Progress())}
            result.unmigratable = [failure.line() for failure in stats.failures]
            result.expected = len(expected)
            if describe_table(session.client, name) is None:
                raise TargetError(f"table {name} does not exist in env {session.env.name!r}: run inv create-tables "
                                  "and inv load first")
            usage = ReadUsage()
            stored: dict[str, str] = {}
            for item in scan(session.client, name, usage):
                stored[key_text(spec.key_of(item))] = content_hash(item)
            result.stored = len(stored)
            result.rru = usage.rru
            result.missing = sorted(k for k in expected if k not in stored)
            result.extra = sorted(k for k in stored if k not in expected)
            result.different = sorted(k for k in expected if k in stored and stored[k] != expected[k])
            results.append(result)
            if on_table:
                on_table(result)
    if session.metadata.exists():
        session.metadata.record_verify({
            "finished_at": utc_now(), "env": session.env.name, "ok": all(r.ok for r in results),
            "tables": {r.table: {"missing": len(r.missing), "extra": len(r.extra), "different": len(r.different),
                                 "expected": r.expected, "stored": r.stored} for r in results},
        })
    return results


# -------------------------------------------------------------------------------------------------
# Stage 02: validate
# -------------------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""

    @property
    def status(self) -> str:
        return "SKIP" if self.ok is None else ("PASS" if self.ok else "FAIL")


def validate(session: Session) -> list[Check]:
    """The prerequisites of a run, one check per row; never raises for a failed check."""
    checks = [_check_identity(session), _check_dynamodb(session)]
    try:
        source = session.open_source()
    except PniError as exc:
        checks.append(Check("PostgreSQL reachable", False, str(exc), "fix the credentials or host (see README)"))
        return checks
    with source:
        checks.append(Check("PostgreSQL reachable", True, session.pg_credentials().describe()))
        checks.extend(_check_source_tables(session, source))
    return checks


def _check_identity(session: Session) -> Check:
    env = session.env
    endpoint = dynamodb_endpoint(env)  # also AWS_ENDPOINT_URL(_DYNAMODB): no AWS account to identify then
    if endpoint or env.local_stack:
        return Check("AWS identity (STS)", None, f"skipped: non-AWS endpoint {endpoint}")
    from pni_tasks.sink import boto_session, client_config

    try:
        sts = boto_session(env).client("sts", config=client_config(env))
        arn = sts.get_caller_identity()["Arn"]
        return Check("AWS identity (STS)", True, arn)
    except Exception as exc:  # noqa: BLE001 - any failure is reported as a FAIL row
        return Check("AWS identity (STS)", False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                     "configure AWS credentials (aws configure, AWS_PROFILE or an instance role)")


def _check_dynamodb(session: Session) -> Check:
    from pni_tasks.sink import describe_failure

    try:
        session.client.list_tables(Limit=1)
        return Check("DynamoDB reachable", True, f"region {session.env.region}, endpoint "
                     f"{dynamodb_endpoint(session.env) or 'AWS'}")
    except Exception as exc:  # noqa: BLE001
        return Check("DynamoDB reachable", False, str(describe_failure(exc, "list_tables", session.env)),
                     "check the region, endpoint and credentials; for env local run inv local.up")


def _check_source_tables(session: Session, source: Source) -> list[Check]:
    needed: dict[str, set[str]] = {}
    for spec in session.tables:
        for table, columns in spec.source_columns.items():
            needed.setdefault(table, set()).update(columns)
    checks = []
    for table, columns in sorted(needed.items()):
        present = source.columns(table)
        if present is None:
            checks.append(Check(f"source table {table}", False, "missing",
                                "create it (for env local: inv local.seed) or disable the plugin that needs it"))
            continue
        missing = sorted(columns - set(present))
        if missing:
            checks.append(Check(f"source table {table}", False, f"missing column(s) {', '.join(missing)}",
                                "add the columns or update the plugin"))
            continue
        checks.append(Check(f"source table {table}", True, f"{source.row_count(table):,} rows"))
    return checks
