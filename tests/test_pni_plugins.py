"""The built-in PNI table plugins against the contract, on a hand-written fixture.

The fixture below is written out row by row (not generated) so that each rule of
``pni-contract.md`` is visible next to the item it produces: NULL columns, an empty summary,
legacy metadata that is NULL, empty, valid and invalid, jsonb with decimals and nested lists,
tags NULL/empty/with duplicates, emoji and right-to-left text, timestamps with and without
microseconds and in other time zones, a naive ``passages.updated_at``, question position ties
ordered by id, a lesson without questions, questions without a passage, NULL choices, a NaN
difficulty, and topic aggregates across published and unpublished lessons.

Everything is driven through the public path a run uses: the plugin manager built from the
entry points, ``registered_tables``, the ``pni_read_source`` hook and ``items_of_group``.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import psycopg2
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from psycopg2 import sql

from pni_tasks import hookimpl
from pni_tasks.config import PgCredentials
from pni_tasks.errors import ItemError, SourceError
from pni_tasks.hashing import content_hash, dynamodb_number
from pni_tasks.items import (
    LegacyJson,
    attribute_value,
    exact_json,
    exact_number,
    iso_utc,
    key_string,
    parse_legacy_json,
    row_attributes,
)
from pni_tasks.model import ItemFailure, PreparedItem, SourceGroup, TableSpec, key_text
from pni_tasks.plugins import make_plugin_manager, registered_tables
from pni_tasks.source import Source
from pni_tasks.transform import TransformContext, items_of_group

MIGRATED_AT = "2025-06-01T00:00:00Z"

# -------------------------------------------------------------------------------------------------
# The fixture: every rule of the contract, row by row
# -------------------------------------------------------------------------------------------------

CONTRACT_ROWS = """
INSERT INTO lessons (id, slug, title, topic, level, summary, content, metadata, tags,
                     duration_minutes, difficulty, is_published, created_at, updated_at) VALUES
-- everything set: emoji + RTL summary, jsonb with decimals/nested lists/null, valid metadata,
-- duplicate tags, an updated_at in +02 with microseconds
(1, 'reading-basics', 'Reading basics', 'Reading Comprehension', 'A1', 'A first lesson 📚 — مرحبا بالعالم',
 '{"blocks": [{"type": "text", "score": 2.50, "nested": [[1, 2.0], [], {"x": null}]}], "version": 3}',
 '{"author": "Ana", "weight": 1.10}', ARRAY['reading', 'basics', 'reading'], 15, 2.50, true,
 '2024-03-01 12:00:00+00', '2024-03-01 14:00:00.5+02'),
-- as empty as the schema allows: '' summary, NULL content/metadata/tags/duration/difficulty,
-- unpublished, no passages and no questions
(2, 'empty-lesson', 'Empty', 'Reading Comprehension', 'A1', '', NULL, NULL, NULL, NULL, NULL, false,
 '2024-01-01 00:00:00+00', '2024-01-01 00:00:00+00'),
-- inserted before lesson 3: metadata '', a top-level jsonb array, unpublished, a position tie
(4, 'grammar-drill', 'Grammar drill', 'Grammar', 'B1', 'Drill ✍️', '[1, 2.5, "x"]', '', ARRAY['grammar'],
 NULL, 1.00, false, '2024-02-01 10:00:00+00', '2024-02-01 10:00:00+00'),
-- NULL summary, invalid legacy metadata, empty tags, empty map and list, deep nesting,
-- created_at one microsecond before midnight
(3, 'grammar-intro', 'Grammar intro', 'Grammar', 'B1', NULL,
 '{"empty": {}, "list": [], "deep": [[["x", 0.10]]]}', '{not json', '{}', 30, 4.00, true,
 '2023-12-31 23:59:59.999999+00', '2024-01-01 00:00:00+00'),
-- difficulty NaN: this lesson fails, its passage and its topic aggregate do not
(5, 'broken-lesson', 'Broken', 'Grammar', 'B2', 'NaN inside', NULL, '{"ok": true}', NULL, 10, 'NaN', true,
 '2024-05-01 00:00:00+00', '2024-05-01 00:00:00+00');

INSERT INTO passages (id, lesson_id, position, title, body, word_count, reading_level, source,
                      created_at, updated_at) VALUES
-- passage 11 comes second in its lesson although its id is smaller; naive updated_at with micros
(11, 1, 2, 'Second', 'Body two 🙂', 3, NULL, NULL, '2024-03-02 08:00:00+00', '2024-03-02 08:30:00.25'),
(12, 1, 1, NULL, 'نص عربي طويل 📜', NULL, 3.0, '{"url": "https://example.org/a", "license": null}',
 '2024-03-02 08:00:00.000001+00', '2024-03-02 08:30:00'),
-- a passage without questions
(31, 3, 1, 'Only passage', 'Text of lesson three', 4, 1.5, '{"pages": [1, 2]}',
 '2024-01-01 00:00:00+00', '2024-01-01 00:00:00'),
(51, 5, 1, NULL, 'Passage of the NaN lesson', NULL, NULL, NULL, '2024-05-01 00:00:00+00', '2024-05-01 00:00:00');

INSERT INTO questions (id, lesson_id, passage_id, position, question_type, prompt, choices,
                       correct_answer, explanation, points, created_at, updated_at) VALUES
-- 102 and 101 share position 2: ordered by id although 102 is inserted first
(102, 1, NULL, 2, 'short_answer', 'Why? 🤔', NULL, NULL, NULL, NULL,
 '2024-03-01 12:00:00+00', '2024-03-01 12:00:00+00'),
(101, 1, 11, 2, 'true_false', 'True or false?', NULL, 'true', 'Because.', 1,
 '2024-03-01 12:00:00+00', '2024-03-01 12:00:01+00'),
(103, 1, 12, 1, 'multiple_choice', 'هل السماء زرقاء؟', '[{"key": "a", "text": "yes"}, {"key": "b", "text": "لا"}]',
 'a', NULL, 1.50, '2024-03-01 12:00:00+00', '2024-03-01 07:00:00.123456-05'),
(301, 3, NULL, 1, 'multiple_choice', 'Pick one', '[{"key": "a", "text": "x", "weight": 2.50}]', 'a', NULL, 0.50,
 '2024-01-02 00:00:00+00', '2024-01-02 00:00:00+00'),
(402, 4, NULL, 1, 'short_answer', 'Second by id', '[]', NULL, NULL, 2,
 '2024-02-02 00:00:00+00', '2024-02-02 00:00:00+00'),
(401, 4, NULL, 1, 'short_answer', 'First by id', NULL, 'x', NULL, NULL,
 '2024-02-02 00:00:00+00', '2024-02-02 00:00:00+00'),
(501, 5, 51, 1, 'true_false', 'About the passage', NULL, 'false', NULL, 1,
 '2024-05-01 00:00:00+00', '2024-05-01 00:00:00+00');
"""

# -------------------------------------------------------------------------------------------------
# The items it must produce, written out (content_hash and migrated_at are checked separately)
# -------------------------------------------------------------------------------------------------

Q101 = {
    "question_id": 101, "lesson_id": 1, "passage_id": 11, "position": 2, "question_type": "true_false",
    "prompt": "True or false?", "choices": [], "correct_answer": "true", "explanation": "Because.",
    "points": Decimal("1.00"), "created_at": "2024-03-01T12:00:00Z", "updated_at": "2024-03-01T12:00:01Z",
}
Q102 = {  # lesson-level: no passage_id; NULL correct_answer/explanation/points left out; choices []
    "question_id": 102, "lesson_id": 1, "position": 2, "question_type": "short_answer",
    "prompt": "Why? 🤔", "choices": [], "created_at": "2024-03-01T12:00:00Z", "updated_at": "2024-03-01T12:00:00Z",
}
Q103 = {
    "question_id": 103, "lesson_id": 1, "passage_id": 12, "position": 1, "question_type": "multiple_choice",
    "prompt": "هل السماء زرقاء؟", "choices": [{"key": "a", "text": "yes"}, {"key": "b", "text": "لا"}],
    "correct_answer": "a", "points": Decimal("1.50"),
    "created_at": "2024-03-01T12:00:00Z", "updated_at": "2024-03-01T12:00:00.123456Z",
}
Q301 = {
    "question_id": 301, "lesson_id": 3, "position": 1, "question_type": "multiple_choice", "prompt": "Pick one",
    "choices": [{"key": "a", "text": "x", "weight": Decimal("2.50")}], "correct_answer": "a",
    "points": Decimal("0.50"), "created_at": "2024-01-02T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z",
}
Q401 = {
    "question_id": 401, "lesson_id": 4, "position": 1, "question_type": "short_answer", "prompt": "First by id",
    "choices": [], "correct_answer": "x", "created_at": "2024-02-02T00:00:00Z", "updated_at": "2024-02-02T00:00:00Z",
}
Q402 = {
    "question_id": 402, "lesson_id": 4, "position": 1, "question_type": "short_answer", "prompt": "Second by id",
    "choices": [], "points": Decimal("2.00"), "created_at": "2024-02-02T00:00:00Z",
    "updated_at": "2024-02-02T00:00:00Z",
}
Q501 = {
    "question_id": 501, "lesson_id": 5, "passage_id": 51, "position": 1, "question_type": "true_false",
    "prompt": "About the passage", "choices": [], "correct_answer": "false", "points": Decimal("1.00"),
    "created_at": "2024-05-01T00:00:00Z", "updated_at": "2024-05-01T00:00:00Z",
}

EXPECTED_LESSONS = [
    {
        "lesson_id": 1, "slug": "reading-basics", "title": "Reading basics", "topic": "Reading Comprehension",
        "level": "A1", "summary": "A first lesson 📚 — مرحبا بالعالم",
        "content": {"blocks": [{"type": "text", "score": Decimal("2.50"),
                                "nested": [[1, Decimal("2.0")], [], {"x": None}]}], "version": 3},
        "metadata": {"author": "Ana", "weight": Decimal("1.10")},
        "tags": ["reading", "basics", "reading"], "duration_minutes": 15, "difficulty": Decimal("2.50"),
        "is_published": True, "created_at": "2024-03-01T12:00:00Z", "updated_at": "2024-03-01T12:00:00.500000Z",
        "passage_ids": [12, 11], "question_count": 3, "questions": [Q103, Q101, Q102],
    },
    {
        "lesson_id": 2, "slug": "empty-lesson", "title": "Empty", "topic": "Reading Comprehension", "level": "A1",
        "summary": "", "metadata": {}, "tags": [], "is_published": False,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "passage_ids": [], "question_count": 0, "questions": [],
    },
    {
        "lesson_id": 3, "slug": "grammar-intro", "title": "Grammar intro", "topic": "Grammar", "level": "B1",
        "content": {"empty": {}, "list": [], "deep": [[["x", Decimal("0.10")]]]},
        "metadata": {}, "metadata_raw": "{not json", "tags": [], "duration_minutes": 30,
        "difficulty": Decimal("4.00"), "is_published": True,
        "created_at": "2023-12-31T23:59:59.999999Z", "updated_at": "2024-01-01T00:00:00Z",
        "passage_ids": [31], "question_count": 1, "questions": [Q301],
    },
    {
        "lesson_id": 4, "slug": "grammar-drill", "title": "Grammar drill", "topic": "Grammar", "level": "B1",
        "summary": "Drill ✍️", "content": [1, Decimal("2.5"), "x"], "metadata": {}, "tags": ["grammar"],
        "difficulty": Decimal("1.00"), "is_published": False,
        "created_at": "2024-02-01T10:00:00Z", "updated_at": "2024-02-01T10:00:00Z",
        "passage_ids": [], "question_count": 2, "questions": [Q401, Q402],
    },
]

EXPECTED_PASSAGES = [
    {
        "passage_id": 11, "lesson_id": 1, "position": 2, "title": "Second", "body": "Body two 🙂", "word_count": 3,
        "created_at": "2024-03-02T08:00:00Z", "updated_at": "2024-03-02T08:30:00.250000Z", "questions": [Q101],
    },
    {
        "passage_id": 12, "lesson_id": 1, "position": 1, "body": "نص عربي طويل 📜", "reading_level": Decimal("3.0"),
        "source": {"url": "https://example.org/a", "license": None},
        "created_at": "2024-03-02T08:00:00.000001Z", "updated_at": "2024-03-02T08:30:00Z", "questions": [Q103],
    },
    {
        "passage_id": 31, "lesson_id": 3, "position": 1, "title": "Only passage", "body": "Text of lesson three",
        "word_count": 4, "reading_level": Decimal("1.5"), "source": {"pages": [1, 2]},
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z", "questions": [],
    },
    {
        "passage_id": 51, "lesson_id": 5, "position": 1, "body": "Passage of the NaN lesson",
        "created_at": "2024-05-01T00:00:00Z", "updated_at": "2024-05-01T00:00:00Z", "questions": [Q501],
    },
]

EXPECTED_TOPICS = [
    {"topic": "Grammar", "level": "B1", "lesson_ids": [3, 4], "lesson_count": 2, "published_lesson_count": 1,
     "question_count": 3},
    # lesson 5 fails in pni-lessons (NaN difficulty) but it exists, so it counts here
    {"topic": "Grammar", "level": "B2", "lesson_ids": [5], "lesson_count": 1, "published_lesson_count": 1,
     "question_count": 1},
    {"topic": "Reading Comprehension", "level": "A1", "lesson_ids": [1, 2], "lesson_count": 2,
     "published_lesson_count": 1, "question_count": 3},
]

EXPECTED_ITEMS = {"pni-lessons": EXPECTED_LESSONS, "pni-passages": EXPECTED_PASSAGES, "pni-topics": EXPECTED_TOPICS}

# -------------------------------------------------------------------------------------------------
# Running the plugins the way a run does
# -------------------------------------------------------------------------------------------------


@dataclass
class Migration:
    """What reading and transforming one table produced."""

    items: list[PreparedItem] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    groups: int = 0

    def plain_items(self) -> list[dict[str, Any]]:
        """The items without the fields the host adds."""
        return [{k: v for k, v in p.item.items() if k not in ("content_hash", "migrated_at")} for p in self.items]


def connect(dsn: str, *, batch_size: int = 1000) -> Source:
    return Source.connect(PgCredentials(dsn=dsn), batch_size=batch_size, connect_timeout=5)


def migrate_table(pm, table: TableSpec, source: Source) -> Migration:
    migration = Migration()
    context = TransformContext(migrated_at=MIGRATED_AT)
    groups = pm.hook.pni_read_source(table=table, source=source, settings={})
    for group in groups:
        migration.groups += 1
        migration.items.extend(items_of_group(pm, table, group, context, migration.failures.append))
    migration.warnings = context.warnings
    return migration


def migrate_all(dsn: str, *, batch_size: int = 1000, pm=None) -> dict[str, Migration]:
    pm = pm or make_plugin_manager()
    tables = registered_tables(pm)
    with connect(dsn, batch_size=batch_size) as source:
        return {name: migrate_table(pm, tables[name], source) for name in EXPECTED_ITEMS}


def execute(dsn: str, statement: str | sql.Composable, params: Any = None) -> None:
    connection = psycopg2.connect(dsn)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
    finally:
        connection.close()


def floats_in(value: Any) -> list[Any]:
    """Every float anywhere in ``value`` (a float equals a Decimal in ==, so look for them apart)."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats_in(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats_in(v)]
    return []


@pytest.fixture
def contract_db(pni_db: str) -> str:
    execute(pni_db, CONTRACT_ROWS)
    return pni_db


# -------------------------------------------------------------------------------------------------
# The contract
# -------------------------------------------------------------------------------------------------


def test_builtin_tables_are_registered_with_the_contract_keys():
    tables = registered_tables(make_plugin_manager())
    lessons, passages, topics = tables["pni-lessons"], tables["pni-passages"], tables["pni-topics"]
    assert (lessons.hash_key.name, lessons.hash_key.type, lessons.range_key) == ("lesson_id", "N", None)
    assert (passages.hash_key.name, passages.hash_key.type, passages.range_key) == ("passage_id", "N", None)
    (index,) = passages.indexes
    assert (index.name, index.hash_key.name, index.hash_key.type, index.range_key.name, index.range_key.type) == (
        "lesson_id-index", "lesson_id", "N", "position", "N")
    assert topics.key_names == ("topic", "level")
    assert (topics.hash_key.type, topics.range_key.type) == ("S", "S")
    assert {lessons.plugin, passages.plugin, topics.plugin} == {"lessons", "passages", "topics"}


def test_source_columns_exist_in_the_contract_schema(pni_db):
    with connect(pni_db) as source:
        for spec in registered_tables(make_plugin_manager()).values():
            for table, columns in spec.source_columns.items():
                existing = source.columns(table)
                assert existing is not None, f"{spec.name} reads missing table {table}"
                assert set(columns) <= set(existing), f"{spec.name} reads missing columns of {table}"


@pytest.mark.parametrize("batch_size", [1, 2, 1000], ids=lambda n: f"batch_size={n}")
def test_items_match_the_contract(contract_db, batch_size):
    # batch_size 1 and 2 make every merge-join step cross a fetch boundary of the cursors.
    migrations = migrate_all(contract_db, batch_size=batch_size)
    for name, expected in EXPECTED_ITEMS.items():
        assert migrations[name].plain_items() == expected, name
        for prepared in migrations[name].items:
            assert floats_in(prepared.item) == []
            assert prepared.item["migrated_at"] == MIGRATED_AT
            assert prepared.content_hash == prepared.item["content_hash"] == content_hash(prepared.item)


def test_decimals_keep_their_scale_until_dynamodb_normalizes_them(contract_db):
    lesson = migrate_all(contract_db)["pni-lessons"].items[0].item
    # Equality of Decimals ignores the scale; the exact digits show nothing was rounded through a float.
    assert str(lesson["difficulty"]) == "2.50"
    assert str(lesson["content"]["blocks"][0]["score"]) == "2.50"
    assert str(lesson["metadata"]["weight"]) == "1.10"


def test_nan_difficulty_fails_that_lesson_naming_table_row_and_column(contract_db):
    migrations = migrate_all(contract_db)
    (failure,) = migrations["pni-lessons"].failures
    assert (failure.table, failure.key, failure.column) == ("pni-lessons", "lessons.id=5", "difficulty")
    assert "NaN" in failure.reason
    assert failure.line().startswith("pni-lessons lessons.id=5 column difficulty: ")
    assert migrations["pni-passages"].failures == migrations["pni-topics"].failures == []


def test_invalid_metadata_is_a_warning_naming_the_lesson(contract_db):
    migrations = migrate_all(contract_db)
    (warning,) = migrations["pni-lessons"].warnings
    assert warning.startswith("lessons.id=3: ")
    assert "metadata" in warning and "metadata_raw" in warning
    assert migrations["pni-passages"].warnings == migrations["pni-topics"].warnings == []


def test_nan_in_an_embedded_question_names_the_question_and_column(pni_db):
    execute(pni_db, CONTRACT_ROWS)
    execute(pni_db, "UPDATE questions SET points = 'NaN' WHERE id = 301")
    migrations = migrate_all(pni_db)
    failures = {f.key: f for f in migrations["pni-lessons"].failures}
    assert failures["lessons.id=3"].column == "questions.points"
    assert "question 301" in failures["lessons.id=3"].reason
    # The passage table does not hold question 301 (it has no passage), so nothing fails there.
    assert migrations["pni-passages"].failures == []


def test_topic_with_an_empty_name_fails_instead_of_reaching_dynamodb():
    row = {"topic": "", "level": "A1", "lesson_ids": [1], "lesson_count": 1, "published_lesson_count": 0,
           "question_count": 0}
    pm = make_plugin_manager()
    failures: list[ItemFailure] = []
    table = registered_tables(pm)["pni-topics"]
    group = SourceGroup(key='lessons.topic="",level="A1"', data=row)
    assert list(items_of_group(pm, table, group, TransformContext(migrated_at=MIGRATED_AT), failures.append)) == []
    assert failures[0].column == "topic"


def test_a_later_plugin_overrides_a_builtin_transform(contract_db):
    class ShoutingTitles:
        @hookimpl
        def pni_transform(self, table, group):
            if table.name != "pni-lessons":
                return None
            return [{"lesson_id": group.data.lesson["id"], "title": group.data.lesson["title"].upper()}]

    migrations = migrate_all(contract_db, pm=make_plugin_manager(extra=[("shouting", ShoutingTitles())]))
    assert [item["title"] for item in migrations["pni-lessons"].plain_items()] == [
        "READING BASICS", "EMPTY", "GRAMMAR INTRO", "GRAMMAR DRILL", "BROKEN"]
    assert migrations["pni-passages"].plain_items() == EXPECTED_PASSAGES


# -------------------------------------------------------------------------------------------------
# Through DynamoDB and back
# -------------------------------------------------------------------------------------------------


def key_schema(keys: list) -> list[dict[str, str]]:
    return [{"AttributeName": key.name, "KeyType": kind} for key, kind in zip(keys, ("HASH", "RANGE"), strict=False)]


def create_table(client, spec: TableSpec) -> None:
    keys = [spec.hash_key] + ([spec.range_key] if spec.range_key else [])
    attributes = {key.name: key.type for key in keys}
    indexes = []
    for index in spec.indexes:
        index_keys = [index.hash_key] + ([index.range_key] if index.range_key else [])
        attributes.update({key.name: key.type for key in index_keys})
        indexes.append({
            "IndexName": index.name,
            "KeySchema": key_schema(index_keys),
            "Projection": {"ProjectionType": "ALL"},
        })
    params: dict[str, Any] = {
        "TableName": spec.name,
        "KeySchema": key_schema(keys),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        params["GlobalSecondaryIndexes"] = indexes
    client.create_table(**params)


def as_dynamodb_stores(value: Any) -> Any:
    """``value`` with numbers normalized the way DynamoDB stores them (``2.50`` -> ``2.5``).

    moto keeps the digits it is sent; AWS normalizes them. Applying the rule to the read-back
    item shows the hash holds either way.
    """
    if isinstance(value, Decimal):
        return Decimal(dynamodb_number(value))
    if isinstance(value, dict):
        return {k: as_dynamodb_stores(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_dynamodb_stores(v) for v in value]
    return value


def test_items_survive_dynamodb_and_rehash_the_same(contract_db, dynamodb_endpoint):
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    tables = registered_tables(make_plugin_manager())
    migrations = migrate_all(contract_db)
    for name, expected_items in EXPECTED_ITEMS.items():
        spec = tables[name]
        create_table(client, spec)
        assert len(migrations[name].items) == len(expected_items)
        for prepared, expected in zip(migrations[name].items, expected_items, strict=True):
            client.put_item(TableName=name, Item={k: serializer.serialize(v) for k, v in prepared.item.items()})
            key = {k: serializer.serialize(v) for k, v in zip(spec.key_names, prepared.key, strict=True)}
            stored = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
            read_back = {k: deserializer.deserialize(v) for k, v in stored.items()}
            assert {k: v for k, v in read_back.items() if k not in ("content_hash", "migrated_at")} == expected
            assert read_back["content_hash"] == prepared.content_hash
            assert content_hash(read_back) == prepared.content_hash
            assert content_hash(as_dynamodb_stores(read_back)) == prepared.content_hash
    lesson = client.get_item(TableName="pni-lessons", Key={"lesson_id": {"N": "1"}})["Item"]
    normalized = as_dynamodb_stores(deserializer.deserialize(lesson["difficulty"]))
    assert str(normalized) == "2.5"
    assert lesson["tags"]["L"] == [{"S": "reading"}, {"S": "basics"}, {"S": "reading"}]  # a list, never a set


# -------------------------------------------------------------------------------------------------
# Reading: a bounded number of queries, whatever the number of lessons
# -------------------------------------------------------------------------------------------------


def add_lessons(dsn: str, first: int, last: int) -> None:
    """Lessons first..last, each with two passages and three questions (one lesson-level)."""
    execute(dsn, """
        INSERT INTO lessons (id, slug, title, topic, level, is_published, created_at, updated_at)
        SELECT g, 'lesson-' || g, 'Lesson ' || g, 'T' || (g %% 3), 'A1', g %% 2 = 0, now(), now()
          FROM generate_series(%(first)s, %(last)s) AS g;
        INSERT INTO passages (id, lesson_id, position, body, created_at, updated_at)
        SELECT g * 10 + p, g, p, 'body', now(), now() FROM generate_series(%(first)s, %(last)s) AS g,
               generate_series(1, 2) AS p;
        INSERT INTO questions (id, lesson_id, passage_id, position, question_type, prompt, created_at, updated_at)
        SELECT g * 100 + q, g, CASE WHEN q < 3 THEN g * 10 + q END, q, 'short_answer', 'p', now(), now()
          FROM generate_series(%(first)s, %(last)s) AS g, generate_series(1, 3) AS q;
    """, {"first": first, "last": last})


def count_streams(monkeypatch) -> list[str]:
    """Record the label of every query a plugin sends through Source.stream."""
    labels: list[str] = []
    original = Source.stream

    def counting_stream(self, query, params=None, *, label=None):
        labels.append(label or "?")
        return original(self, query, params, label=label)

    monkeypatch.setattr(Source, "stream", counting_stream)
    return labels


def test_queries_do_not_grow_with_the_number_of_lessons(pni_db, monkeypatch):
    labels = count_streams(monkeypatch)
    queries: dict[int, dict[str, int]] = {}
    for lessons, (first, last) in ((1, (1, 1)), (60, (2, 60))):
        add_lessons(pni_db, first, last)
        pm = make_plugin_manager()
        tables = registered_tables(pm)
        queries[lessons] = {}
        with connect(pni_db, batch_size=7) as source:
            for name in EXPECTED_ITEMS:
                labels.clear()
                migration = migrate_table(pm, tables[name], source)
                queries[lessons][name] = len(labels)
                assert migration.failures == []
        assert len(migrate_all(pni_db)["pni-lessons"].items) == lessons
    assert queries[1] == queries[60] == {"pni-lessons": 3, "pni-passages": 2, "pni-topics": 1}


def test_embedded_questions_follow_their_lesson_through_the_merge_join(pni_db):
    add_lessons(pni_db, 1, 25)
    migrations = migrate_all(pni_db, batch_size=4)
    for prepared in migrations["pni-lessons"].items:
        lesson_id = prepared.item["lesson_id"]
        assert [q["question_id"] for q in prepared.item["questions"]] == [lesson_id * 100 + q for q in (1, 2, 3)]
        assert prepared.item["passage_ids"] == [lesson_id * 10 + 1, lesson_id * 10 + 2]
    for prepared in migrations["pni-passages"].items:
        assert [q["passage_id"] for q in prepared.item["questions"]] == [prepared.item["passage_id"]]


# -------------------------------------------------------------------------------------------------
# The 400 KB limit
# -------------------------------------------------------------------------------------------------


def test_an_oversize_lesson_fails_naming_table_key_and_size_and_the_rest_goes_on(pni_db):
    add_lessons(pni_db, 1, 3)
    # Five 90 KB prompts make lesson 2's item about 450 KB; its passages stay small.
    execute(pni_db, "UPDATE questions SET prompt = repeat('x', 90000) WHERE lesson_id = 2")
    execute(pni_db, """
        INSERT INTO questions (id, lesson_id, position, question_type, prompt, created_at, updated_at)
        SELECT 200 + n, 2, n, 'short_answer', repeat('y', 90000), now(), now() FROM generate_series(4, 5) AS n
    """)
    migration = migrate_all(pni_db)["pni-lessons"]
    (failure,) = migration.failures
    assert (failure.table, failure.key) == ("pni-lessons", f"lesson_id={key_text((2,))}")
    size = int(re.search(r"item is ([\d,]+) bytes", failure.reason).group(1).replace(",", ""))
    assert size > 400 * 1024
    assert [p.item["lesson_id"] for p in migration.items] == [1, 3]


# -------------------------------------------------------------------------------------------------
# Source: one snapshot, exact types, one-line errors
# -------------------------------------------------------------------------------------------------


def scalar(source: Source, query: str) -> Any:
    (row,) = source.stream(sql.SQL(query))
    (value,) = row.values()
    return value


def test_the_session_is_read_only_repeatable_read_in_utc(pni_db):
    with connect(pni_db) as source:
        assert scalar(source, "SELECT current_setting('transaction_read_only')") == "on"
        assert scalar(source, "SELECT current_setting('transaction_isolation')") == "repeatable read"
        assert scalar(source, "SELECT current_setting('TimeZone')") == "UTC"


def test_every_query_of_a_source_sees_one_snapshot(contract_db):
    with connect(contract_db) as source:
        assert source.row_count("lessons") == 5
        execute(contract_db, """INSERT INTO lessons (id, slug, title, topic, level, created_at, updated_at)
                                VALUES (9, 'late', 'Late', 'T', 'A1', now(), now())""")
        assert source.row_count("lessons") == 5
    with connect(contract_db) as later:
        assert later.row_count("lessons") == 6


def test_streams_can_be_consumed_interleaved(pni_db):
    with connect(pni_db, batch_size=2) as source:
        odd = source.stream(sql.SQL("SELECT g FROM generate_series(1, 9, 2) AS g"))
        even = source.stream(sql.SQL("SELECT g FROM generate_series(2, 10, 2) AS g"))
        merged = [row["g"] for pair in zip(odd, even, strict=True) for row in pair]
    assert merged == list(range(1, 11))


def test_columns_and_row_count(contract_db):
    with connect(contract_db) as source:
        columns = source.columns("lessons")
        assert columns["difficulty"] == "numeric"
        assert columns["content"] == "jsonb"
        assert list(columns)[:2] == ["id", "slug"]
        assert source.columns("public.passages")["updated_at"] == "timestamp without time zone"
        assert source.columns("no_such_table") is None
        assert source.row_count("questions") == 7


def test_values_arrive_exact_and_the_adapters_stay_on_the_connection(pni_db):
    with connect(pni_db) as source:
        (row,) = source.stream(sql.SQL(
            "SELECT '{\"a\": 2.50, \"b\": [1e2, 3]}'::jsonb AS doc, '{\"c\": 0.1}'::json AS legacy, "
            "0.1::float8 AS f8, ARRAY[1.5::float4] AS f4s, 2.50::numeric AS n"))
    assert row == {"doc": {"a": Decimal("2.50"), "b": [Decimal("1E+2"), 3]}, "legacy": {"c": Decimal("0.1")},
                   "f8": Decimal("0.1"), "f4s": [Decimal("1.5")], "n": Decimal("2.50")}
    assert floats_in(row) == []
    plain = psycopg2.connect(pni_db)
    try:
        with plain.cursor() as cursor:
            cursor.execute("SELECT 0.5::float8, '{\"a\": 2.5}'::jsonb")
            f8, doc = cursor.fetchone()
            assert isinstance(f8, float) and isinstance(doc["a"], float)
    finally:
        plain.close()


def test_stream_takes_only_composed_sql(pni_db):
    with connect(pni_db) as source, pytest.raises(TypeError):
        source.stream("SELECT 1")


def test_a_refused_query_is_one_line_naming_it(pni_db):
    with connect(pni_db) as source, pytest.raises(SourceError) as caught:
        list(source.stream(sql.SQL("SELECT nope FROM lessons"), label="table lessons"))
    assert "table lessons" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_connection_lost_mid_stream_is_one_line_saying_to_rerun(pni_db):
    add_lessons(pni_db, 1, 20)
    with connect(pni_db, batch_size=2) as source:
        pid = scalar(source, "SELECT pg_backend_pid()")
        rows = source.stream(sql.SQL("SELECT id FROM lessons ORDER BY id"), label="table lessons")
        assert next(rows)["id"] == 1
        execute(pni_db, "SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(SourceError) as caught:
            list(rows)
    message = str(caught.value)
    assert "\n" not in message
    assert "lost the connection" in message and "table lessons" in message and "rerun" in message


def test_connect_failure_is_one_line_without_the_password():
    creds = PgCredentials(host="127.0.0.1", port=1, user="someone", password="s3cret-Passw0rd",
                          database="pni", origin="test")
    with pytest.raises(SourceError) as caught:
        Source.connect(creds, batch_size=10, connect_timeout=2)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL someone@127.0.0.1:1/pni (test): ")
    assert "\n" not in message and "s3cret-Passw0rd" not in message


def test_connect_failure_through_a_dsn_hides_its_password(pg_server_dsn):
    dsn = "postgresql://nobody:s3cret-Passw0rd@127.0.0.1:1/pni"
    with pytest.raises(SourceError) as caught:
        Source.connect(PgCredentials(dsn=dsn, origin="PNI_PG_DSN"), batch_size=10, connect_timeout=2)
    assert "s3cret-Passw0rd" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_server_that_never_answers_fails_within_the_connect_timeout():
    # A listening socket that never accepts: the kernel completes the TCP handshake, then libpq
    # waits for an answer that never comes, as with a firewalled or hung host.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        creds = PgCredentials(host="127.0.0.1", port=silent.getsockname()[1], user="u", database="d", origin="test")
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            Source.connect(creds, batch_size=10, connect_timeout=2)
        elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 2 + 3
    assert "\n" not in str(caught.value)


# -------------------------------------------------------------------------------------------------
# items: the value rules, one by one
# -------------------------------------------------------------------------------------------------


def test_iso_utc():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert iso_utc(dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)) == "2024-03-01T12:00:00Z"
    assert iso_utc(dt.datetime(2024, 3, 1, 14, 0, 0, 500000, tzinfo=plus_two)) == "2024-03-01T12:00:00.500000Z"
    assert iso_utc(dt.datetime(2024, 3, 1, 12, 0, 0, 1)) == "2024-03-01T12:00:00.000001Z"  # naive: UTC
    assert iso_utc(dt.datetime(999, 1, 1)) == "0999-01-01T00:00:00Z"


@pytest.mark.parametrize("value", [0, -7, 10**37, Decimal("2.50"), Decimal("-0.00"), Decimal("1E+40"),
                                   Decimal("1E-130"), Decimal("9.9999999999999999999999999999999999999E+125"), None])
def test_exact_number_keeps_what_dynamodb_can_store(value):
    result = exact_number(value, column="c")
    assert result is value


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN"),
                                   Decimal("1E+126"), Decimal("1E-131"), 10**38 + 1,
                                   Decimal("1.234567890123456789012345678901234567891")])
def test_exact_number_refuses_what_dynamodb_cannot_store(value):
    with pytest.raises(ItemError) as caught:
        exact_number(value, column="difficulty")
    assert caught.value.column == "difficulty"


@pytest.mark.parametrize("value", [2.5, True])
def test_exact_number_refuses_floats_and_booleans(value):
    with pytest.raises(TypeError):
        exact_number(value, column="c")


def test_exact_json_keeps_nulls_and_names_the_path_of_a_nan():
    document = {"a": [None, {"b": Decimal("2.50")}], "t": True, "s": "x"}
    assert exact_json(document, column="content") == document
    with pytest.raises(ItemError) as caught:
        exact_json({"a": [1, {"b": Decimal("NaN")}]}, column="content")
    assert caught.value.column == "content"
    assert "content.a[1].b" in str(caught.value)
    with pytest.raises(TypeError):
        exact_json({"a": 0.5}, column="content")


@pytest.mark.parametrize(("text", "expected"), [
    (None, LegacyJson({}, None)),
    ("", LegacyJson({}, None)),
    ("  \n", LegacyJson({}, None)),
    ("null", LegacyJson({}, None)),
    ('{"a": 1.10, "b": [null]}', LegacyJson({"a": Decimal("1.10"), "b": [None]}, None)),
    ("[1, 2]", LegacyJson([1, 2], None)),
    ("{'single': 'quotes'}", LegacyJson({}, "{'single': 'quotes'}")),
])
def test_parse_legacy_json(text, expected):
    warnings: list[str] = []
    assert parse_legacy_json(text, column="metadata", warn=warnings.append) == expected
    assert len(warnings) == (1 if expected.raw is not None else 0)


def test_parse_legacy_json_refuses_nan_naming_the_column():
    with pytest.raises(ItemError) as caught:
        parse_legacy_json('{"score": NaN}', column="metadata", warn=lambda message: None)
    assert caught.value.column == "metadata"


def test_row_attributes_leave_out_nulls_except_lists():
    row = {"id": 7, "a": None, "tags": None, "when": dt.date(2024, 1, 2), "raw": memoryview(b"x")}
    assert row_attributes(row, rename={"id": "thing_id"}, lists=("tags",)) == {
        "thing_id": 7, "tags": [], "when": "2024-01-02", "raw": b"x"}
    assert attribute_value(["a", None], column="tags") == ["a", None]


def test_key_string_refuses_what_dynamodb_refuses_in_a_key():
    assert key_string("Grammar", column="topic") == "Grammar"
    with pytest.raises(ItemError):
        key_string("", column="topic")
    with pytest.raises(ItemError):
        key_string("é" * 513, column="level", sort_key=True)  # 1026 bytes > 1024
