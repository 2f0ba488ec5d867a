"""Every hook of pni-migrate, in the order a run calls them.

This module is the extension API. A plugin is a module or object with functions marked
``@pni_tasks.hookimpl`` whose names and arguments match the specs below (pluggy checks them
when the plugin is loaded). A plugin may implement any subset and may omit arguments it does
not need. ``docs/plugins.md`` is generated from these docstrings (``inv hook-docs``), and a test
keeps the two in step.

The built-in PNI tables (``plugins/lessons.py``, ``plugins/passages.py``, ``plugins/topics.py``)
and write strategies (``plugins/strategy_clean.py``, ``plugins/strategy_incremental.py``) are
plugins on these same hooks, registered through the ``pni_tasks`` entry-point group exactly as
a third party's would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from pni_tasks import PROJECT_NAME

if TYPE_CHECKING:
    from pni_tasks.model import SourceGroup, TableSpec, TableStats
    from pni_tasks.runinfo import RunInfo, RunResult
    from pni_tasks.source import Source
    from pni_tasks.strategy import WriteStrategy
    from pni_tasks.transform import TransformContext

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -------------------------------------------------------------------------------------------------
# Registration: what tables and strategies exist
# -------------------------------------------------------------------------------------------------


@hookspec
def pni_register_tables(register: Callable[[TableSpec], None]) -> None:
    """Add the DynamoDB tables this plugin provides.

    Call ``register(TableSpec(...))`` once per table: its name (without the environment's
    ``table_prefix``), key schema, global secondary indexes, and ``source_columns``, the
    PostgreSQL tables and columns it reads (``inv validate`` checks they exist). A table
    name registered twice is refused by the host with an error that names both plugins.

    Called once when the plugin manager is built. Every plugin's implementation is called.
    """


@hookspec
def pni_register_strategies(register: Callable[[WriteStrategy], None]) -> None:
    """Add write strategies (how items reach DynamoDB).

    Call ``register(strategy)`` with an instance of :class:`pni_tasks.strategy.WriteStrategy`
    (its ``name`` is what users type after ``--strategy``). The built-ins are ``clean`` and
    ``incremental``; a name registered twice is refused naming both plugins.
    """


# -------------------------------------------------------------------------------------------------
# Extract and transform: PostgreSQL rows -> items
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def pni_read_source(table: TableSpec, source: Source, settings: Mapping[str, Any]) -> Iterable[SourceGroup] | None:
    """Stream the source data of ``table`` as :class:`pni_tasks.model.SourceGroup` objects.

    ``source`` wraps the PostgreSQL connection: ``source.stream(query, params)`` runs a
    ``psycopg2.sql`` query through a server-side cursor and yields dict rows in batches of the
    configured ``batch_size``. Read with a bounded number of ordered queries (never one query
    per row) and yield one group at a time so memory stays bounded by the largest group.
    ``settings`` is the plugin's section of the ``pni.plugin_settings`` configuration.

    Return ``None`` for tables the plugin does not provide. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def pni_transform(table: TableSpec, group: SourceGroup, context: TransformContext) -> list[dict[str, Any]] | None:
    """Turn one source group into the items of ``table``.

    Return a list of items: plain dicts of attribute name to value (``str``, ``Decimal``,
    ``int``, ``bool``, ``list``, ``dict``, ``bytes``), keyed by the table's key attributes.
    The host adds ``content_hash`` and ``migrated_at``, checks the size, and skips NULLs that a
    plugin left in as ``None``. Raise :class:`pni_tasks.errors.ItemError` for a row that cannot
    be migrated (the host records the table, the group's key and the column, and goes on);
    call ``context.warn(message)`` for a problem that does not stop the item.

    Return ``None`` for tables the plugin does not handle. Stops at the first non-None result,
    so a plugin registered later (or marked ``tryfirst=True``) overrides a built-in transform.
    """


# -------------------------------------------------------------------------------------------------
# Run events: reporters and the run recorder listen
# -------------------------------------------------------------------------------------------------


@hookspec
def pni_run_started(run: RunInfo) -> None:
    """A load or verify run starts: ``run`` holds the env, strategy, options, tables and start time."""


@hookspec
def pni_table_finished(run: RunInfo, stats: TableStats) -> None:
    """One table of the run is done; ``stats`` holds its counts, units, cost and failures."""


@hookspec
def pni_run_finished(run: RunInfo, result: RunResult) -> None:
    """The run ended: ``result.status`` is ``succeeded``, ``failed`` or ``interrupted``, with the
    per-table statistics and totals. Called also when the run fails or is interrupted."""
