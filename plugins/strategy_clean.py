"""The ``clean`` write strategy: delete and recreate the env's tables, then write every item."""

from pni_tasks import hookimpl
from pni_tasks.model import Action, PreparedItem
from pni_tasks.strategy import WriteStrategy
from pni_tasks.target import TargetTable


class CleanStrategy(WriteStrategy):
    name = "clean"
    description = "delete and recreate each table (waiting until ACTIVE), then write every item"

    def prepare(self, target: TargetTable) -> None:
        target.recreate()

    def decide(self, target: TargetTable, item: PreparedItem) -> Action:
        return Action.CREATE


@hookimpl
def pni_register_strategies(register):
    register(CleanStrategy())
