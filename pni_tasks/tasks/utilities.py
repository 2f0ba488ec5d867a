"""Stage 99, the utilities around the pipeline: ``summary``, ``create-iam-user`` and ``cleanup``.

Thin tasks: flags -> session -> :mod:`pni_tasks.summary` / :mod:`pni_tasks.iam` / engine -> output.
None of them opens PostgreSQL.
"""

from __future__ import annotations

import json as jsonlib
import logging
import sys

from invoke import task

from pni_tasks import engine, iam, report
from pni_tasks.errors import ConfigError
from pni_tasks.session import Session
from pni_tasks.summary import summary as summary_document
from pni_tasks.summary import summary_text, table_statuses
from pni_tasks.tasks.context import confirm_destructive, logger_for, session_for, stage
from pni_tasks.tasks.pipeline import ENV_HELP


@task(help={"env": ENV_HELP, "json": "print the report as one JSON document on stdout",
            "runs": "how many of the last runs to list (default 5)"})
@stage("99", "summary")
def summary(c, env=None, json=False, runs=5):
    """Show the env's settings, its tables (status, items, size), its last runs and its last verify."""
    if int(runs) < 1:
        raise ConfigError(f"--runs={runs} is invalid: use a whole number >= 1")
    document = summary_document(session_for(c, env), int(runs))
    if json:
        report.print_json(document)
    else:
        print(summary_text(document))


@task(auto_shortflags=False,  # no -c/-d: a typo must not create a secret
      help={"env": ENV_HELP, "dry-run": "print the policy document and create nothing",
            "create-access-key": "also create an access key for the user and print its secret once"})
@stage("99", "create-iam-user")
def create_iam_user(c, env=None, dry_run=False, create_access_key=False):
    """Create (idempotently) the env's IAM user, allowed only the tool's DynamoDB actions on the env's tables."""
    session = session_for(c, env)
    logger = logger_for(c)
    who = iam.caller(session.env)
    document = iam.policy_document(session, who)
    print(jsonlib.dumps(document, indent=2))
    names = iam.iam_names(session.env)
    if dry_run:
        logger.info(f"dry run: would ensure user {names.user} and policy {iam.policy_arn(names, who)}; "
                    "nothing was created")
        return
    outcome = iam.ensure_iam_user(session, document, who, create_access_key=create_access_key)
    for change in outcome.changes:
        logger.info(change)
    if not outcome.changes:
        logger.info(f"user {outcome.user} and policy {outcome.policy_arn} already up to date: nothing changed")
    if outcome.access_key is not None:
        logger.warning("the secret access key below is shown only this once: store it in a secret manager or "
                       "~/.aws/credentials now; it cannot be retrieved again")
        print(f"\n[{names.user}]\naws_access_key_id = {outcome.access_key.access_key_id}\n"
              f"aws_secret_access_key = {outcome.access_key.secret_access_key}")
    else:
        print(f"\n{iam.ROLE_ADVICE}", file=sys.stderr)


def _cleanup_plan(session: Session, include_iam: bool,
                  logger: logging.Logger) -> tuple[list[tuple[str, str, str]], iam.IamState | None]:
    rows = [("table", s.name, f"{s.item_count:,} items (approx.)") for s in table_statuses(session) if s.exists]
    state = None
    if include_iam:
        state = iam.iam_state(session, iam.caller(session.env))
        if state.user_exists:
            rows.append(("IAM user", state.user, f"{len(state.access_keys)} access key(s)"))
        if state.policy_exists:
            attached = ", ".join(state.attached_to) or "not attached"
            rows.append(("IAM policy", state.policy_arn, f"attached to {attached}"))
        if not state.anything:
            logger.info(f"no IAM user {state.user} nor policy {state.policy_arn} exists")
    return rows, state


@task(auto_shortflags=False,  # no -c/-y: deleting takes words typed in full
      help={"env": ENV_HELP, "confirm": "really delete (without it: list what would be deleted)",
            "yes": "for a protected env (prod, or protected: true): confirm without typing the env name",
            "include-iam": "also delete the env's IAM user, its access keys and its policy"})
@stage("99", "cleanup")
def cleanup(c, env=None, confirm=False, yes=False, include_iam=False):
    """Delete the env's DynamoDB tables (data and pni-cache-metadata), and with --include-iam its IAM user.

    Local state: none. Every piece of an env's state (run records, table state, hash manifests,
    verify results) lives in its pni-cache-metadata table, which this deletes. The local stack's
    state dir (.pni/: embedded PostgreSQL data, moto's pid and log) belongs to the stack, not to an
    env: inv local.down stops it, and deleting that folder by hand drops its data.
    """
    session = session_for(c, env)
    logger = logger_for(c)
    name = session.env.name
    rows, state = _cleanup_plan(session, include_iam, logger)
    if not rows:
        logger.info(f"env {name} has nothing to delete")
        return
    print(report.table(rows, ["kind", "name", "holds"]))
    if not confirm:
        logger.info(f"nothing was deleted: rerun with --confirm to delete the above from env {name}")
        return
    confirm_destructive(c, name, "cleanup deletes its tables", yes)
    deleted = engine.delete_tables(session)
    logger.info(f"deleted {len(deleted)} table(s) of env {name}: {', '.join(deleted) or 'none'}")
    if state is not None and state.anything:
        for line in iam.remove_iam_user(session, state):
            logger.info(line)
