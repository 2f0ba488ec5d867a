"""The plain data that flows between the stages: table specs, source groups, items, plans, statistics.

PostgreSQL rows -> SourceGroup -> transformer plugins -> item dicts -> PreparedItem (hash, size)
-> write strategy (Action per key) -> sink -> TableStats -> report.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pni_tasks.sizing import write_units

Key = tuple  # the values of a table's key attributes, in key-schema order


@dataclass(frozen=True)
class KeyAttribute:
    """One key attribute: its name and DynamoDB scalar type (``"S"``, ``"N"`` or ``"B"``)."""

    name: str
    type: str = "S"


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index (projection ALL)."""

    name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table a plugin provides.

    ``name`` is the table's name without the environment's ``table_prefix``.
    ``source_columns`` maps each PostgreSQL table the plugin reads to the columns it needs;
    ``inv validate`` checks that they exist.
    ``plugin`` is filled in by the host with the name of the plugin that registered the table.
    """

    name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None
    indexes: tuple[IndexSpec, ...] = ()
    source_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""
    plugin: str = ""

    @property
    def key_names(self) -> tuple[str, ...]:
        if self.range_key is None:
            return (self.hash_key.name,)
        return (self.hash_key.name, self.range_key.name)

    def key_of(self, item: Mapping[str, Any]) -> Key:
        return tuple(item[name] for name in self.key_names)


def key_text(key: Key) -> str:
    """A stable string for a key, used in manifests, reports and error messages.

    Numbers are written as DynamoDB stores them, so ``42`` from PostgreSQL and ``Decimal("42")``
    read back from DynamoDB give the same text.
    """
    from pni_tasks.hashing import dynamodb_number

    parts = [dynamodb_number(p) if isinstance(p, (int, Decimal)) and not isinstance(p, bool)
             else json.dumps(p, ensure_ascii=False) for p in key]
    return "[" + ",".join(parts) + "]"


@dataclass(frozen=True)
class SourceGroup:
    """A unit of source data a transformer turns into items (for example one lesson with its
    passages and questions). ``key`` names it in error messages (``"lessons.id=42"``)."""

    key: str
    data: Any


@dataclass(frozen=True)
class PreparedItem:
    """An item ready to write: its key, the item with ``content_hash``, its size and write units."""

    key: Key
    item: dict[str, Any]
    content_hash: str
    size: int

    @property
    def write_units(self) -> int:
        return write_units(self.size)


class Action(enum.Enum):
    """What a write strategy decides for one item."""

    CREATE = "created"
    UPDATE = "updated"
    SKIP = "skipped"


@dataclass(frozen=True)
class ItemFailure:
    """One item (or source row) that did not reach DynamoDB, and why."""

    table: str
    key: str
    reason: str
    column: str | None = None

    def line(self) -> str:
        where = f"{self.table} {self.key}"
        if self.column:
            where += f" column {self.column}"
        return f"{where}: {self.reason}"


@dataclass
class TableStats:
    """What one run did to one table. Units are DynamoDB request units; costs are in USD."""

    table: str
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    orphans: int = 0
    source_groups: int = 0
    items: int = 0
    wru: float = 0.0
    rru: float = 0.0
    full_wru: float = 0.0
    cost_full: float = 0.0
    cost_actual: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    seconds: float = 0.0

    COUNTS = ("created", "updated", "skipped", "deleted", "failed")

    def count(self, action: Action) -> None:
        setattr(self, action.value, getattr(self, action.value) + 1)

    @property
    def savings(self) -> float:
        return self.cost_full - self.cost_actual

    @property
    def savings_pct(self) -> float:
        return 100.0 * self.savings / self.cost_full if self.cost_full else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            **{name: getattr(self, name) for name in self.COUNTS},
            "orphans": self.orphans,
            "items": self.items,
            "wru": self.wru,
            "rru": self.rru,
            "full_wru": self.full_wru,
            "cost_full": round(self.cost_full, 8),
            "cost_actual": round(self.cost_actual, 8),
            "savings": round(self.savings, 8),
            "savings_pct": round(self.savings_pct, 2),
            "requests": dict(self.requests),
            "warnings": list(self.warnings),
            "failures": [f.line() for f in self.failures],
            "seconds": round(self.seconds, 3),
        }
