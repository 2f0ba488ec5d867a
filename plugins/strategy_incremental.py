"""The ``incremental`` write strategy: write only what changed, decided by ``content_hash``.

New key -> created; same hash as stored -> skipped (nothing is sent); different hash -> updated.
Keys stored but gone from PostgreSQL are orphans: reported, deleted only with ``--prune``.
"""

from pni_tasks import hookimpl
from pni_tasks.model import Action, PreparedItem
from pni_tasks.strategy import WriteStrategy
from pni_tasks.target import TargetTable


class IncrementalStrategy(WriteStrategy):
    name = "incremental"
    description = "create missing tables; write new and changed items only, skip the rest"

    def decide(self, target: TargetTable, item: PreparedItem) -> Action:
        stored = target.known_hash(item.key)
        if stored is None:
            return Action.CREATE
        return Action.SKIP if stored == item.content_hash else Action.UPDATE

    def orphans(self, target: TargetTable, seen: set[str]) -> list[str]:
        return list(target.orphan_texts(seen))


@hookimpl
def pni_register_strategies(register):
    register(IncrementalStrategy())
