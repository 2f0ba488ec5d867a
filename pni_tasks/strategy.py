"""The write-strategy interface. Strategies are plugins: see ``pni_register_strategies``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pni_tasks.model import Action, PreparedItem

if TYPE_CHECKING:
    from pni_tasks.target import TargetTable


class WriteStrategy:
    """Decides, item by item, what a load does to one table.

    The engine calls ``prepare`` once per table, ``decide`` for every item the transformers
    produce, then ``orphans`` with the keys it saw. Writing, retrying, counting units and
    recording state are the engine's; a strategy only decides.
    """

    name: str = ""
    description: str = ""

    def prepare(self, target: TargetTable) -> None:
        """Get the table ready (create or recreate it). In a dry run ``target`` changes nothing."""
        target.ensure_exists()

    def decide(self, target: TargetTable, item: PreparedItem) -> Action:
        """CREATE, UPDATE or SKIP for one item; ``target.known_hash(item.key)`` says what is stored."""
        raise NotImplementedError

    def orphans(self, target: TargetTable, seen: set[str]) -> list[str]:
        """Keys (as :func:`pni_tasks.model.key_text`) in the table that the source no longer has.

        ``seen`` holds the keys the transformers produced in this run. The engine reports
        orphans and deletes them only with ``--prune`` (refusing a large prune without ``--force``).
        """
        return []
