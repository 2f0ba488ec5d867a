"""Generated PNI source data: the contract schema, reproducible sample rows, and a "few rows changed" edit.

The rows look like real lesson content and, on purpose, hold every awkward value the contract
names, so that a migration of them exercises every rule of ``pni-contract.md``:

- the first seven lessons are a fixed *showcase*, one contract case (or a few) each, so that any
  ``lessons >= 7`` holds every case (see :data:`SHOWCASE`);
- the other lessons are random but realistic, with the same oddities at low rates;
- ``nan=True`` and ``oversize=True`` append one lesson each that cannot be migrated (a NaN, an
  item over 400 KB), drawn from their own random streams so that the regular rows stay identical.

Everything derives from ``random.Random(seed)`` and a fixed base date: the same arguments give the
same rows, byte for byte. Rows are loaded with ``COPY ... FROM STDIN`` in chunks, which seeds the
benchmark's 10,000 lessons (140,000 rows) in seconds rather than minutes.
"""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg2 import sql

from pni_tasks.errors import PniError

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
TABLES = ("lessons", "passages", "questions")  # in foreign-key order
COLUMNS = {
    "lessons": ("id", "slug", "title", "topic", "level", "summary", "content", "metadata", "tags",
                "duration_minutes", "difficulty", "is_published", "created_at", "updated_at"),
    "passages": ("id", "lesson_id", "position", "title", "body", "word_count", "reading_level", "source",
                 "created_at", "updated_at"),
    "questions": ("id", "lesson_id", "passage_id", "position", "question_type", "prompt", "choices",
                  "correct_answer", "explanation", "points", "created_at", "updated_at"),
}
CHUNK_LESSONS = 1000
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)  # fixed, so that timestamps are reproducible
OVERSIZE_QUESTIONS = 160
OVERSIZE_PROMPT_CHARS = 3000  # 160 x 3 KB: the lesson item embeds ~480 KB of prompts
LONG_BODY_CHARS = (20_000, 60_000)
INVALID_METADATA = ('{"broken": ', "not json at all", "{'single': 'quotes'}")

TOPICS = ("Reading Comprehension", "Grammar", "Vocabulary", "Listening", "Writing", "Pronunciation",
          "Culture & Society", "Business English")
LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
WORDS = tuple("""
    the a reader river morning letter city garden market teacher student friend journey window story
    quiet bright careful sudden ancient modern open close write listen read speak travel learn build
    because although while after before during between under across through every many several few
    bread music weather island mountain library museum kitchen village harbour festival season winter
    summer bicycle station ticket message question answer example reason result history science nature
    family neighbour holiday evening weekend language culture practice progress surprise decision
""".split())
ARABIC = ("القراءة والفهم", "درس اللغة العربية", "مرحبا بالعالم", "كتاب المعلم", "الطالب يقرأ قصة قصيرة")
HEBREW = ("שלום עולם", "קריאה והבנה", "שיעור בעברית", "המורה קורא ספר", "התלמידה כותבת מכתב")
EMOJI = ("📚", "✏️", "🌍", "🚀", "🧠", "🎧", "👩‍🏫", "🇫🇷")  # incl. a ZWJ sequence and a flag
OTHER_SCRIPTS = ("naïve café", "日本語の練習", "Ελληνικά", "Привет, мир", "Straße")
PUBLISHERS = ("Open Reader Press", "City Library", "PNI Editorial", "Harbour Books")
LICENSES = ("CC-BY-4.0", "CC-BY-SA-4.0", "proprietary")
POINTS = tuple(Decimal(p) for p in ("1.00", "2.00", "2.50", "0.50", "1.25", "3.75"))
QUESTION_TYPES = ("multiple_choice", "true_false", "short_answer", "fill_in_blank")
QUESTION_WEIGHTS = (50, 20, 20, 10)

# The fixed first lessons and the contract cases each one carries (ids are 1-based).
SHOWCASE = {
    1: "every nullable column NULL: summary, content, metadata, tags, duration, difficulty; "
       "a passage and a question with all their nullable columns NULL (choices NULL)",
    2: "empty values: summary '', metadata '', tags empty; difficulty 2.50 and decimals such as 2.50 "
       "inside the jsonb content",
    3: "metadata that is not valid JSON ('{\"broken\": '), an emoji title, tags with duplicates",
    4: "Arabic (right-to-left) title and summary; a lesson without questions",
    5: "a passage body of tens of KB; a lesson-level question (passage_id NULL)",
    6: "Hebrew title and question prompts; question positions with ties and out of id order; "
       "passage positions in reverse id order",
    7: "a lesson without passages (every question lesson-level); valid JSON metadata with decimals",
}
NO_QUESTIONS = {4}
NO_PASSAGES = {7}


# -------------------------------------------------------------------------------------------------
# Schema
# -------------------------------------------------------------------------------------------------


def create_schema(conn, *, drop: bool = False) -> None:
    """Create the contract tables (``schema.sql``); with ``drop``, drop existing ones first. Commits."""
    with conn.cursor() as cur:
        if drop:
            cur.execute("DROP TABLE IF EXISTS questions, passages, lessons CASCADE")
        cur.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
    conn.commit()


def table_counts(conn) -> dict[str, int | None]:
    """Rows per contract table, ``None`` for a table that does not exist."""
    counts: dict[str, int | None] = {}
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
            if not cur.fetchone()[0]:
                counts[table] = None
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            counts[table] = cur.fetchone()[0]
    conn.rollback()  # read-only: leave no transaction open
    return counts


# -------------------------------------------------------------------------------------------------
# Encoding rows for COPY ... (FORMAT csv)
# -------------------------------------------------------------------------------------------------


_DECIMAL_MARK = re.compile(r'"\\u0000([-+0-9.eE]+|NaN)\\u0000"')


def _json(value: Any) -> str:
    """JSON text keeping Decimals exact as written (2.50 stays 2.50, as jsonb keeps it)."""
    text = json.dumps(value, ensure_ascii=False, default=lambda d: f"\x00{d}\x00")
    return _DECIMAL_MARK.sub(r"\1", text)


def _pg_array(items: list[str]) -> str:
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def _csv_field(value: Any) -> str:
    # In COPY's csv format an unquoted empty field is NULL and a quoted one is ''.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, list):
        value = _pg_array(value)
    elif isinstance(value, dict):
        value = _json(value)
    return '"' + str(value).replace('"', '""') + '"'


class _Jsonb:
    """Marks a value for a jsonb column (a list there is JSON, not a PostgreSQL array)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __str__(self) -> str:
        return _json(self.value)


def _copy_rows(cur, table: str, rows: Iterable[dict[str, Any]]) -> int:
    columns = COLUMNS[table]
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write(",".join(_csv_field(row[column]) for column in columns))
        buffer.write("\n")
        count += 1
    if count:
        buffer.seek(0)
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        cur.copy_expert(statement, buffer)
    return count


# -------------------------------------------------------------------------------------------------
# Text and value generators
# -------------------------------------------------------------------------------------------------


def _sentence(rng: random.Random, low: int = 6, high: int = 16) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def _unicode_flavour(rng: random.Random, text: str, rate: float) -> str:
    """Now and then, mix right-to-left text, emoji or other scripts into ``text``."""
    draw = rng.random()
    if draw < rate:
        return f"{text} {rng.choice(ARABIC)}"
    if draw < 2 * rate:
        return f"{text} {rng.choice(HEBREW)}"
    if draw < 3 * rate:
        return f"{rng.choice(EMOJI)} {text}"
    if draw < 4 * rate:
        return f"{text} ({rng.choice(OTHER_SCRIPTS)})"
    return text


def _paragraphs(rng: random.Random, sentences: int) -> str:
    text = [_sentence(rng) for _ in range(sentences)]
    # blank lines between paragraphs: bodies carry newlines, as real ones do
    return "\n\n".join(" ".join(text[i:i + 4]) for i in range(0, len(text), 4))


def _long_body(rng: random.Random) -> str:
    target = rng.randint(*LONG_BODY_CHARS)
    parts, size = [], 0
    while size < target:
        part = _paragraphs(rng, 12)
        parts.append(part)
        size += len(part) + 2
    return "\n\n".join(parts)


def _timestamps(rng: random.Random) -> tuple[datetime, datetime]:
    created = BASE_TIME + timedelta(seconds=rng.randrange(300 * 86400))
    if rng.random() < 0.3:
        # microseconds exercise the contract's two ISO-8601 forms
        created += timedelta(microseconds=rng.randrange(1, 1_000_000))
    updated = created + timedelta(seconds=rng.randrange(0, 30 * 86400))
    return created, updated


def _decimal(rng: random.Random, low: int, high: int, places: int) -> Decimal:
    """A Decimal with exactly ``places`` decimals, e.g. 2.50 (scale kept, as numeric(p, s) does)."""
    return Decimal(rng.randint(low, high)).scaleb(-places)


# -------------------------------------------------------------------------------------------------
# Lessons
# -------------------------------------------------------------------------------------------------


def _lesson_content(rng: random.Random) -> _Jsonb:
    """Nested jsonb with decimals (2.50-style), a big integer, JSON null, booleans, empty containers."""
    sections = [
        {"heading": _sentence(rng, 2, 4), "minutes": rng.randint(3, 20), "weight": _decimal(rng, 5, 95, 2)}
        for _ in range(rng.randint(1, 4))
    ]
    return _Jsonb({
        "objectives": [_sentence(rng, 4, 9) for _ in range(rng.randint(1, 3))],
        "sections": sections,
        "scoring": {"pass_mark": _decimal(rng, 400, 900, 1), "scale": [0, Decimal("0.5"), 1],
                    "bonus": Decimal("2.50")},
        "flags": {"audio": rng.random() < 0.5, "printable": None},
        "stats": {"views": rng.randint(0, 10**6), "legacy_checksum": 12345678901234567890},
        "extras": {} if rng.random() < 0.5 else [],
    })


def _valid_metadata(rng: random.Random) -> str:
    return json.dumps({
        "legacy_id": f"L-{rng.randint(1, 99999):05d}",
        "source": rng.choice(("cms-v1", "cms-v2", "import")),
        "version": rng.randint(1, 9),
        "weight": float(_decimal(rng, 1, 40, 1)),
        "reviewed": rng.random() < 0.7,
        "reviewers": [rng.choice(WORDS) for _ in range(rng.randint(0, 2))],
    }, ensure_ascii=False)


def _metadata(rng: random.Random) -> str | None:
    draw = rng.random()
    if draw < 0.20:
        return None
    if draw < 0.25:
        return ""
    if draw < 0.255:
        return rng.choice(INVALID_METADATA)
    return _valid_metadata(rng)


def _tags(rng: random.Random, topic: str, level: str) -> list[str] | None:
    draw = rng.random()
    if draw < 0.10:
        return None
    if draw < 0.15:
        return []
    tags = [topic.lower(), level] + rng.sample(WORDS, rng.randint(0, 3))
    if draw < 0.18:
        tags.append(tags[0])  # duplicates happen in legacy data; order and repeats are kept
    return tags


def _null_or(rng: random.Random, rate: float, value: Any) -> Any:
    return None if rng.random() < rate else value


def _lesson(rng: random.Random, lesson_id: int) -> dict[str, Any]:
    topic, level = rng.choice(TOPICS), rng.choice(LEVELS)
    created, updated = _timestamps(rng)
    summary_draw = rng.random()
    summary = None if summary_draw < 0.05 else "" if summary_draw < 0.08 else _sentence(rng, 10, 30)
    return {
        "id": lesson_id,
        "slug": f"{topic.lower().replace(' & ', '-').replace(' ', '-')}-{level.lower()}-{lesson_id:06d}",
        "title": _unicode_flavour(rng, _sentence(rng, 2, 6)[:-1], 0.02),
        "topic": topic,
        "level": level,
        "summary": _unicode_flavour(rng, summary, 0.02) if summary else summary,
        "content": _null_or(rng, 0.05, _lesson_content(rng)),
        "metadata": _metadata(rng),
        "tags": _tags(rng, topic, level),
        "duration_minutes": _null_or(rng, 0.05, rng.randint(5, 90)),
        "difficulty": _null_or(rng, 0.10, _decimal(rng, 100, 500, 2)),
        "is_published": rng.random() < 0.7,
        "created_at": created,
        "updated_at": updated,
    }


def _showcase_lesson(lesson: dict[str, Any], rng: random.Random) -> None:
    """Force the contract case(s) of a showcase lesson (see :data:`SHOWCASE`)."""
    lesson_id = lesson["id"]
    if lesson_id == 1:
        lesson.update(summary=None, content=None, metadata=None, tags=None, duration_minutes=None,
                      difficulty=None)
    elif lesson_id == 2:
        content = _lesson_content(rng)
        content.value["scoring"]["pass_mark"] = Decimal("2.50")
        lesson.update(summary="", metadata="", tags=[], difficulty=Decimal("2.50"), content=content)
    elif lesson_id == 3:
        lesson.update(metadata=INVALID_METADATA[0], title=f"📚 {lesson['title']} 🚀",
                      tags=["grammar", lesson["level"], "grammar"])
    elif lesson_id == 4:
        lesson.update(title=f"{ARABIC[0]}: {ARABIC[1]}", summary=f"{ARABIC[4]}. {ARABIC[2]}")
    elif lesson_id == 6:
        lesson.update(title=f"{HEBREW[2]} - {HEBREW[1]}")
    elif lesson_id == 7:
        lesson.update(metadata='{"legacy_id": "L-00007", "weight": 2.50, "ratio": 0.125, "nested": {"a": [1, 2.5]}}')


# -------------------------------------------------------------------------------------------------
# Passages and questions
# -------------------------------------------------------------------------------------------------


def _passage_source(rng: random.Random) -> _Jsonb | None:
    if rng.random() < 0.3:
        return None
    return _Jsonb({"publisher": rng.choice(PUBLISHERS), "year": rng.randint(1950, 2024),
                   "license": rng.choice(LICENSES), "rating": _decimal(rng, 100, 500, 2),
                   "pages": [rng.randint(1, 300) for _ in range(rng.randint(0, 3))]})


def _passages(rng: random.Random, lesson_id: int, count: int, first_id: int) -> list[dict[str, Any]]:
    # Positions are 1..n, shuffled for some lessons: order by position, never by id.
    positions = list(range(1, count + 1))
    if lesson_id == 6:
        positions.reverse()
    elif rng.random() < 0.4:
        rng.shuffle(positions)
    rows = []
    for offset, position in enumerate(positions):
        long_body = (lesson_id == 5 and offset == 0) or rng.random() < 0.003
        body = _long_body(rng) if long_body else _unicode_flavour(rng, _paragraphs(rng, rng.randint(4, 14)), 0.02)
        created, updated = _timestamps(rng)
        rows.append({
            "id": first_id + offset,
            "lesson_id": lesson_id,
            "position": position,
            "title": _null_or(rng, 0.10, _sentence(rng, 2, 5)[:-1]),
            "body": body,
            "word_count": _null_or(rng, 0.10, len(body.split())),
            "reading_level": _null_or(rng, 0.15, _decimal(rng, 10, 129, 1)),
            "source": _passage_source(rng),
            "created_at": created,
            # a naive timestamp column: UTC by convention
            "updated_at": updated.replace(tzinfo=None),
        })
    if lesson_id == 1 and rows:
        rows[0].update(title=None, word_count=None, reading_level=None, source=None)
    return rows


def _question_positions(rng: random.Random, count: int, force_ties: bool) -> list[int]:
    """Positions with ties now and then (order is then by id), sometimes out of id order."""
    positions, position = [], 0
    for index in range(count):
        tie = index > 0 and (rng.random() < 0.08 or (force_ties and index == 1))
        position += 0 if tie else 1
        positions.append(position)
    if force_ties or rng.random() < 0.3:
        rng.shuffle(positions)
    return positions


def _choices(rng: random.Random, question_type: str) -> tuple[_Jsonb | None, str | None]:
    if question_type == "multiple_choice":
        keys = "ABCDE"[: rng.randint(3, 5)]
        choices = [{"key": key, "text": _unicode_flavour(rng, _sentence(rng, 1, 5)[:-1], 0.01)} for key in keys]
        return _Jsonb(choices), rng.choice(keys)
    if question_type == "true_false":
        return _Jsonb([{"key": "T", "text": "True"}, {"key": "F", "text": "False"}]), rng.choice("TF")
    return None, rng.choice(WORDS)


def _questions(rng: random.Random, lesson_id: int, count: int, first_id: int,
               passage_ids: list[int]) -> list[dict[str, Any]]:
    positions = _question_positions(rng, count, force_ties=lesson_id == 6)
    rows = []
    for offset, position in enumerate(positions):
        question_type = rng.choices(QUESTION_TYPES, QUESTION_WEIGHTS)[0]
        choices, answer = _choices(rng, question_type)
        prompt = _sentence(rng, 6, 20)[:-1] + "?"
        prompt = f"{HEBREW[offset % len(HEBREW)]}: {prompt}" if lesson_id == 6 else _unicode_flavour(rng, prompt, 0.01)
        created, updated = _timestamps(rng)
        rows.append({
            "id": first_id + offset,
            "lesson_id": lesson_id,
            "passage_id": rng.choice(passage_ids) if passage_ids and rng.random() < 0.75 else None,
            "position": position,
            "question_type": question_type,
            "prompt": prompt,
            "choices": choices,
            "correct_answer": _null_or(rng, 0.05, answer),
            "explanation": _null_or(rng, 0.30, _sentence(rng, 5, 15)),
            "points": _null_or(rng, 0.10, rng.choice(POINTS)),
            "created_at": created,
            "updated_at": updated,
        })
    if lesson_id == 1 and rows:
        rows[0].update(choices=None, correct_answer=None, explanation=None, points=None)
    if lesson_id == 5 and rows:
        rows[0]["passage_id"] = None
    return rows


# -------------------------------------------------------------------------------------------------
# Seeding
# -------------------------------------------------------------------------------------------------


def _spread(rng: random.Random, total: int, slots: int, empty: set[int]) -> list[int]:
    """``total`` items over ``slots`` lessons, varied per lesson, none on the 0-based ``empty``."""
    counts = [0] * slots
    eligible = [index for index in range(slots) if index not in empty]
    if total <= 0 or not eligible:
        return counts
    mean = total / len(eligible)
    low, high = max(1, round(mean / 2)), max(1, round(mean * 1.5))
    for index in eligible:
        counts[index] = rng.randint(low, high)
    difference = total - sum(counts)
    floor = 1 if total >= len(eligible) else 0
    while difference:
        index = rng.choice(eligible)
        if difference > 0:
            counts[index] += 1
            difference -= 1
        elif counts[index] > floor:
            counts[index] -= 1
            difference += 1
    return counts


def _empty_lessons(rng: random.Random, lessons: int, showcase: set[int], rate: float) -> set[int]:
    """0-based indexes of the lessons left without passages (or questions): showcase ones and a few more."""
    chosen = {lesson_id - 1 for lesson_id in showcase if lesson_id <= lessons}
    chosen |= {index for index in range(len(SHOWCASE), lessons) if rng.random() < rate}
    return chosen


class _Ids:
    """The next passage and question ids (global sequences, as PostgreSQL's would be)."""

    def __init__(self) -> None:
        self.passage = 1
        self.question = 1


def _lesson_rows(rng: random.Random, lesson_id: int, passages: int, questions: int,
                 ids: _Ids) -> tuple[dict, list[dict], list[dict]]:
    lesson = _lesson(rng, lesson_id)
    if lesson_id in SHOWCASE:
        _showcase_lesson(lesson, rng)
    passage_rows = _passages(rng, lesson_id, passages, ids.passage)
    ids.passage += len(passage_rows)
    question_rows = _questions(rng, lesson_id, questions, ids.question, [row["id"] for row in passage_rows])
    ids.question += len(question_rows)
    return lesson, passage_rows, question_rows


def _copy_lessons(cur, generated: list[tuple[dict, list[dict], list[dict]]], counts: dict[str, int]) -> None:
    counts["lessons"] += _copy_rows(cur, "lessons", (lesson for lesson, _, _ in generated))
    counts["passages"] += _copy_rows(cur, "passages", (p for _, passages, _ in generated for p in passages))
    counts["questions"] += _copy_rows(cur, "questions", (q for _, _, questions in generated for q in questions))


def _nan_lesson(seed: int, lesson_id: int, ids: _Ids) -> tuple[dict, list[dict], list[dict]]:
    """A lesson whose difficulty is 'NaN': DynamoDB cannot store it, so it must fail alone."""
    rng = random.Random(f"{seed}-nan")
    lesson, passages, questions = _lesson_rows(rng, lesson_id, 1, 2, ids)
    lesson.update(difficulty=Decimal("NaN"), title=f"NaN difficulty {lesson['title']}")
    return lesson, passages, questions


def _oversize_lesson(seed: int, lesson_id: int, ids: _Ids) -> tuple[dict, list[dict], list[dict]]:
    """A lesson whose item embeds > 400 KB of questions (all lesson-level, so only its lesson item
    is too large): it must fail alone, naming its key and size."""
    rng = random.Random(f"{seed}-oversize")
    lesson, passages, questions = _lesson_rows(rng, lesson_id, 1, OVERSIZE_QUESTIONS, ids)
    lesson["title"] = f"Oversize {lesson['title']}"
    for question in questions:
        prompt = question["prompt"]
        while len(prompt) < OVERSIZE_PROMPT_CHARS:
            prompt += " " + _sentence(rng, 10, 20)
        question.update(prompt=prompt[:OVERSIZE_PROMPT_CHARS], passage_id=None)
    return lesson, passages, questions


def _check_arguments(lessons: int, passages_per_lesson: int, questions_per_lesson: int) -> None:
    for name, value in (("lessons", lessons), ("passages_per_lesson", passages_per_lesson),
                        ("questions_per_lesson", questions_per_lesson)):
        if not isinstance(value, int) or value < 0:
            raise PniError(f"{name}={value!r} is invalid: use a whole number >= 0")


def seed(conn, lessons: int, *, seed: int = 42, passages_per_lesson: int = 3, questions_per_lesson: int = 10,
         nan: bool = False, oversize: bool = False) -> dict[str, int]:
    """Fill the (empty) contract tables with ``lessons`` generated lessons; return rows per table.

    Exactly ``lessons * passages_per_lesson`` passages and ``lessons * questions_per_lesson``
    questions are spread over the regular lessons (a few get none). ``nan`` and ``oversize``
    each append one more lesson, with its own passage and questions. Commits.
    """
    _check_arguments(lessons, passages_per_lesson, questions_per_lesson)
    rng = random.Random(seed)
    passage_counts = _spread(rng, lessons * passages_per_lesson, lessons,
                             _empty_lessons(rng, lessons, NO_PASSAGES, 0.04))
    question_counts = _spread(rng, lessons * questions_per_lesson, lessons,
                              _empty_lessons(rng, lessons, NO_QUESTIONS, 0.03))
    ids = _Ids()
    counts = dict.fromkeys(TABLES, 0)
    with conn.cursor() as cur:
        for start in range(0, lessons, CHUNK_LESSONS):
            generated = [
                _lesson_rows(rng, index + 1, passage_counts[index], question_counts[index], ids)
                for index in range(start, min(start + CHUNK_LESSONS, lessons))
            ]
            _copy_lessons(cur, generated, counts)
        extras = []
        if nan:
            extras.append(_nan_lesson(seed, lessons + len(extras) + 1, ids))
        if oversize:
            extras.append(_oversize_lesson(seed, lessons + len(extras) + 1, ids))
        _copy_lessons(cur, extras, counts)
    conn.commit()
    return counts


def bump_questions(conn, fraction: float, *, seed: int = 7) -> int:
    """Edit the prompt (and updated_at) of ``fraction`` of the questions, chosen reproducibly.

    For the benchmark's "1% changed" run: each edited question changes its lesson's item and,
    when it has one, its passage's item. Returns how many questions changed. Commits.
    """
    if not 0 <= fraction <= 1:
        raise PniError(f"fraction={fraction!r} is invalid: use a number between 0 and 1")
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM questions ORDER BY id")
        question_ids = [row[0] for row in cur.fetchall()]
        count = round(len(question_ids) * fraction)
        if fraction > 0 and question_ids:
            count = max(1, count)
        chosen = sorted(random.Random(seed).sample(question_ids, count))
        cur.execute(
            "UPDATE questions SET prompt = prompt || ' (revised)', updated_at = updated_at + interval '1 hour' "
            "WHERE id = ANY(%s)",
            (chosen,),
        )
        changed = cur.rowcount
    conn.commit()
    return changed
