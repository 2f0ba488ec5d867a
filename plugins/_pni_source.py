"""What the built-in PNI table plugins share: the ordered queries, the merge-join, the question shape.

Reading follows one pattern: a parent table and its child tables are each read by ONE query
ordered by the parent's id (children: by parent id, then ``position``, then ``id``), and the
streams are merge-joined in Python. A run therefore sends a fixed number of queries whatever
the number of lessons (no query per lesson), and holds in memory only the rows of the group
being built, which bounds memory by the largest lesson. All ids are ``bigint``, so PostgreSQL's
order and Python's order of the keys are the same (no collation is involved).

The private module name (leading underscore) keeps it out of the ``pni.plugins.folder`` loader
and out of the entry points: it registers no hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg2 import sql

from pni_tasks.errors import ItemError
from pni_tasks.items import row_attributes
from pni_tasks.source import Source

LESSON_COLUMNS = (
    "id", "slug", "title", "topic", "level", "summary", "content", "metadata", "tags",
    "duration_minutes", "difficulty", "is_published", "created_at", "updated_at",
)
PASSAGE_COLUMNS = (
    "id", "lesson_id", "position", "title", "body", "word_count", "reading_level", "source",
    "created_at", "updated_at",
)
QUESTION_COLUMNS = (
    "id", "lesson_id", "passage_id", "position", "question_type", "prompt", "choices",
    "correct_answer", "explanation", "points", "created_at", "updated_at",
)
# A lesson item lists its passages' ids only; their bodies (tens of KB) belong to pni-passages.
PASSAGE_REF_COLUMNS = ("id", "lesson_id", "position")


def select_ordered(table: str, columns: tuple[str, ...], order_by: tuple[str, ...],
                   where: sql.Composable | None = None) -> sql.Composed:
    """``SELECT columns FROM table [WHERE ...] ORDER BY ...``, every name quoted by psycopg2."""
    query = sql.SQL("SELECT {columns} FROM {table}").format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in columns),
        table=sql.Identifier(table),
    )
    if where is not None:
        query += sql.SQL(" WHERE ") + where
    return query + sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sql.Identifier(c) for c in order_by))


class OrderedChildren:
    """The rows of a child stream ordered by a parent key, handed out parent by parent.

    ``rows_of(key)`` must be called with increasing keys; it skips child rows whose parent key
    is smaller (a parent the caller does not want), collects the rows equal to ``key``, and
    keeps the first larger row for the next call.
    """

    def __init__(self, rows: Iterator[dict[str, Any]], parent_key: str):
        self._rows = rows
        self._parent_key = parent_key
        self._next: dict[str, Any] | None = None
        self._done = False
        self._advance()

    def _advance(self) -> None:
        self._next = next(self._rows, None)
        self._done = self._next is None

    def rows_of(self, key: Any) -> list[dict[str, Any]]:
        while not self._done and self._next[self._parent_key] < key:
            self._advance()
        found = []
        while not self._done and self._next[self._parent_key] == key:
            found.append(self._next)
            self._advance()
        return found


def close_streams(*streams: Iterator[Any]) -> None:
    """Close abandoned streams now (their server-side cursors), not when they are garbage collected."""
    for stream in streams:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


# -------------------------------------------------------------------------------------------------
# Source groups
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonRows:
    """One lesson's row, its passages (id, lesson_id, position) and all its questions, in order."""

    lesson: dict[str, Any]
    passages: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PassageRows:
    """One passage's row and the questions attached to it, in order."""

    passage: dict[str, Any]
    questions: list[dict[str, Any]] = field(default_factory=list)


def read_lessons(source: Source) -> Iterator[LessonRows]:
    """Every lesson with its passages and questions: three ordered queries, merge-joined."""
    lessons = source.stream(select_ordered("lessons", LESSON_COLUMNS, ("id",)), label="table lessons")
    passages = source.stream(
        select_ordered("passages", PASSAGE_REF_COLUMNS, ("lesson_id", "position", "id")), label="table passages")
    questions = source.stream(
        select_ordered("questions", QUESTION_COLUMNS, ("lesson_id", "position", "id")), label="table questions")
    try:
        passages_of = OrderedChildren(passages, "lesson_id")
        questions_of = OrderedChildren(questions, "lesson_id")
        for lesson in lessons:
            yield LessonRows(lesson, passages_of.rows_of(lesson["id"]), questions_of.rows_of(lesson["id"]))
    finally:
        close_streams(lessons, passages, questions)


def read_passages(source: Source) -> Iterator[PassageRows]:
    """Every passage with its questions: two queries ordered by passage id, merge-joined."""
    passages = source.stream(select_ordered("passages", PASSAGE_COLUMNS, ("id",)), label="table passages")
    questions = source.stream(
        select_ordered("questions", QUESTION_COLUMNS, ("passage_id", "position", "id"),
                       where=sql.SQL("{} IS NOT NULL").format(sql.Identifier("passage_id"))),
        label="table questions",
    )
    try:
        questions_of = OrderedChildren(questions, "passage_id")
        for passage in passages:
            yield PassageRows(passage, questions_of.rows_of(passage["id"]))
    finally:
        close_streams(passages, questions)


# -------------------------------------------------------------------------------------------------
# Item shapes shared by pni-lessons and pni-passages
# -------------------------------------------------------------------------------------------------


def embedded_question(row: Mapping[str, Any]) -> dict[str, Any]:
    """A question as a map inside a lesson or passage item: its columns, ``question_id`` for ``id``,
    NULL columns left out (so ``passage_id`` only when set) except ``choices``, which becomes ``[]``."""
    try:
        return row_attributes(row, rename={"id": "question_id"}, lists=("choices",), column_prefix="questions.")
    except ItemError as exc:
        raise ItemError(f"question {row['id']}: {exc}", column=exc.column) from None


def embedded_questions(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The questions in the contract's order: ``position``, then ``id`` (ties by id)."""
    return [embedded_question(row) for row in sorted(rows, key=lambda row: (row["position"], row["id"]))]


def warn_for(row_key: str, warn: Callable[[str], None]) -> Callable[[str], None]:
    """``warn`` with the row named first, so a warning says which row it is about."""
    return lambda message: warn(f"{row_key}: {message}")
