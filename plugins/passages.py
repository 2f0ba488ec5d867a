"""Table ``pni-passages``: one item per passage, embedding the questions attached to it.

Item: the passage's columns (``passage_id`` instead of ``id``; ``updated_at``, a naive legacy
timestamp, taken as UTC) and ``questions``, the questions whose ``passage_id`` is this passage,
ordered by position then id, in the same map shape as in a lesson item. Lesson-level questions
(``passage_id`` NULL) appear only in their lesson's item. The GSI ``lesson_id-index``
(``lesson_id``, ``position``) lists a lesson's passages in order.

Read with two queries ordered by passage id (passages, attached questions) merge-joined in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pni_tasks import hookimpl
from pni_tasks.items import row_attributes
from pni_tasks.model import IndexSpec, KeyAttribute, SourceGroup, TableSpec
from pni_tasks.source import Source
from pni_tasks.transform import TransformContext

from ._pni_source import PASSAGE_COLUMNS, QUESTION_COLUMNS, PassageRows, embedded_questions, read_passages

TABLE = TableSpec(
    name="pni-passages",
    hash_key=KeyAttribute("passage_id", "N"),
    indexes=(IndexSpec("lesson_id-index", KeyAttribute("lesson_id", "N"), KeyAttribute("position", "N")),),
    source_columns={"passages": PASSAGE_COLUMNS, "questions": QUESTION_COLUMNS},
    description="one item per passage, with the questions attached to it embedded",
)


@hookimpl
def pni_register_tables(register) -> None:
    register(TABLE)


@hookimpl
def pni_read_source(table: TableSpec, source: Source, settings: Mapping[str, Any]):
    if table.name != TABLE.name:
        return None
    return (SourceGroup(key=f"passages.id={rows.passage['id']}", data=rows) for rows in read_passages(source))


@hookimpl
def pni_transform(table: TableSpec, group: SourceGroup, context: TransformContext):
    if table.name != TABLE.name:
        return None
    return [passage_item(group.data)]


def passage_item(rows: PassageRows) -> dict[str, Any]:
    """The pni-passages item of one passage (without ``content_hash``/``migrated_at``)."""
    item = row_attributes(rows.passage, rename={"id": "passage_id"})
    item["questions"] = embedded_questions(rows.questions)
    return item
