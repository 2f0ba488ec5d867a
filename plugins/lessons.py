"""Table ``pni-lessons``: one item per lesson, embedding every question of the lesson.

Item: the lesson's columns (``lesson_id`` instead of ``id``), ``metadata`` parsed from its legacy
JSON text (``metadata_raw`` when it is not JSON, with a warning naming the lesson), ``tags``
(``[]`` when NULL), ``questions`` ordered by position then id, ``question_count`` and
``passage_ids`` ordered by passage position (then id). Passages themselves live in ``pni-passages``.

Read with three ordered queries (lessons, passages, questions) merge-joined in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pni_tasks import hookimpl
from pni_tasks.items import parse_legacy_json, row_attributes
from pni_tasks.model import KeyAttribute, SourceGroup, TableSpec
from pni_tasks.source import Source
from pni_tasks.transform import TransformContext

from ._pni_source import (
    LESSON_COLUMNS,
    PASSAGE_REF_COLUMNS,
    QUESTION_COLUMNS,
    LessonRows,
    embedded_questions,
    read_lessons,
    warn_for,
)

TABLE = TableSpec(
    name="pni-lessons",
    hash_key=KeyAttribute("lesson_id", "N"),
    source_columns={"lessons": LESSON_COLUMNS, "passages": PASSAGE_REF_COLUMNS, "questions": QUESTION_COLUMNS},
    description="one item per lesson, with every question of the lesson embedded",
)


@hookimpl
def pni_register_tables(register) -> None:
    register(TABLE)


@hookimpl
def pni_read_source(table: TableSpec, source: Source, settings: Mapping[str, Any]):
    if table.name != TABLE.name:
        return None
    return (SourceGroup(key=f"lessons.id={rows.lesson['id']}", data=rows) for rows in read_lessons(source))


@hookimpl
def pni_transform(table: TableSpec, group: SourceGroup, context: TransformContext):
    if table.name != TABLE.name:
        return None
    return [lesson_item(group.data, context)]


def lesson_item(rows: LessonRows, context: TransformContext) -> dict[str, Any]:
    """The pni-lessons item of one lesson (without ``content_hash``/``migrated_at``: the host adds them)."""
    lesson = dict(rows.lesson)
    metadata_text = lesson.pop("metadata")
    item = row_attributes(lesson, rename={"id": "lesson_id"}, lists=("tags",))
    metadata = parse_legacy_json(metadata_text, column="metadata",
                                 warn=warn_for(f"lessons.id={lesson['id']}", context.warn))
    item["metadata"] = metadata.value
    if metadata.raw is not None:
        item["metadata_raw"] = metadata.raw
    passages = sorted(rows.passages, key=lambda passage: (passage["position"], passage["id"]))
    item["passage_ids"] = [passage["id"] for passage in passages]
    item["question_count"] = len(rows.questions)
    item["questions"] = embedded_questions(rows.questions)
    return item
