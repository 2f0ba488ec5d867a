"""Table ``pni-topics``: one aggregate item per distinct (topic, level) of the lessons.

Item: ``topic``, ``level``, ``lesson_ids`` (sorted ascending), ``lesson_count``,
``published_lesson_count`` and ``question_count`` (questions of all those lessons, published
or not). Every lesson counts, whether or not its own item could be migrated.

PostgreSQL aggregates in one ``GROUP BY`` query streamed one (topic, level) at a time, so memory
is bounded by the largest group, not by the number of lessons.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from psycopg2 import sql

from pni_tasks import hookimpl
from pni_tasks.items import key_string, row_attributes
from pni_tasks.model import KeyAttribute, SourceGroup, TableSpec
from pni_tasks.source import Source
from pni_tasks.transform import TransformContext

TABLE = TableSpec(
    name="pni-topics",
    hash_key=KeyAttribute("topic", "S"),
    range_key=KeyAttribute("level", "S"),
    source_columns={"lessons": ("id", "topic", "level", "is_published"), "questions": ("lesson_id",)},
    description="one aggregate item per (topic, level) of the lessons",
)

# Counting questions per lesson first keeps the join one row per lesson, so the lesson counts
# stay right. ORDER BY ... COLLATE "C" gives the same order on every database.
TOPICS_QUERY = sql.SQL("""
    SELECT l.topic,
           l.level,
           array_agg(l.id ORDER BY l.id) AS lesson_ids,
           count(*) AS lesson_count,
           count(*) FILTER (WHERE l.is_published) AS published_lesson_count,
           coalesce(sum(q.question_count), 0)::bigint AS question_count
      FROM lessons AS l
      LEFT JOIN (SELECT lesson_id, count(*) AS question_count FROM questions GROUP BY lesson_id) AS q
        ON q.lesson_id = l.id
  GROUP BY l.topic, l.level
  ORDER BY l.topic COLLATE "C", l.level COLLATE "C"
""")


@hookimpl
def pni_register_tables(register) -> None:
    register(TABLE)


@hookimpl
def pni_read_source(table: TableSpec, source: Source, settings: Mapping[str, Any]):
    if table.name != TABLE.name:
        return None
    return (SourceGroup(key=topic_key(row), data=row) for row in source.stream(TOPICS_QUERY, label="topics of lessons"))


def topic_key(row: Mapping[str, Any]) -> str:
    """How a (topic, level) group is named in messages, e.g. ``lessons.topic="Grammar",level="B1"``."""
    topic = json.dumps(row["topic"], ensure_ascii=False)
    level = json.dumps(row["level"], ensure_ascii=False)
    return f"lessons.topic={topic},level={level}"


@hookimpl
def pni_transform(table: TableSpec, group: SourceGroup, context: TransformContext):
    if table.name != TABLE.name:
        return None
    return [topic_item(group.data)]


def topic_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The pni-topics item of one (topic, level) aggregate row."""
    # An empty or over-long topic/level is a valid lesson column but not a valid DynamoDB key.
    key_string(row["topic"], column="topic")
    key_string(row["level"], column="level", sort_key=True)
    return row_attributes(row)
