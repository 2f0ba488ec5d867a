"""Turning PostgreSQL values into DynamoDB attribute values, by the rules of the PNI contract.

The built-in table plugins use these helpers, and a third party's plugin may use them too, so
that every table follows the same rules:

- **Numbers are exact.** ``int`` stays ``int`` and ``Decimal`` stays ``Decimal``; a float is
  refused (``TypeError``) because it is not exact. ``NaN`` and ``Infinity``, and numbers outside
  what a DynamoDB number can hold (38 significant digits, magnitude 1E-130 to below 1E+126),
  raise :class:`~pni_tasks.errors.ItemError` naming the column: the row fails, the run goes on.
- **Timestamps** become ISO-8601 UTC strings with a ``Z``: ``2024-03-01T12:00:00Z``, or with
  six digits of microseconds when they are not zero. Naive datetimes are taken as UTC.
- **NULL columns** are left out of the item (:func:`row_attributes`), except the columns a
  table declares as lists (``tags``, ``choices``), which become ``[]``.
- **JSON nulls inside a document are kept** (as DynamoDB ``NULL``): inside a ``jsonb`` map or
  list they are data (``{"hint": null}`` says something ``{}`` does not), whereas a NULL
  *column* only means "no value". A ``jsonb`` column that holds the JSON value ``null`` itself
  is left out like a NULL column.
- **Legacy JSON in text columns** (:func:`parse_legacy_json`, ``lessons.metadata``): NULL, ``''``,
  text of only whitespace and the JSON ``null`` all become ``{}``. Valid JSON is parsed with exact
  numbers (any JSON value is kept as parsed, not only objects). Text that is not valid JSON is
  kept verbatim under ``<column>_raw`` and the column itself becomes ``{}``, so that every item
  has the column as a map and a reader never has to handle it missing; the caller reports a
  warning naming the row and the item is still migrated.
- **Lists keep their order and duplicates**; nothing is written as a DynamoDB set.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from pni_tasks.errors import ItemError

UTC = dt.UTC

# DynamoDB's number limits (Developer Guide, "Supported data types": Number).
MAX_SIGNIFICANT_DIGITS = 38
MIN_ADJUSTED_EXPONENT = -130  # smallest magnitude 1E-130
MAX_ADJUSTED_EXPONENT = 125  # magnitude below 1E+126

# DynamoDB's key attribute limits: strings and binaries not empty, partition key <= 2048 bytes,
# sort key <= 1024 bytes.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024


# -------------------------------------------------------------------------------------------------
# Scalars
# -------------------------------------------------------------------------------------------------


def iso_utc(value: dt.datetime) -> str:
    """``2024-03-01T12:00:00Z``, or ``2024-03-01T12:00:00.500000Z`` when there are microseconds.

    An aware datetime is converted to UTC; a naive one (a ``timestamp without time zone``
    column) is taken as UTC already.
    """
    if not isinstance(value, dt.datetime):
        raise TypeError(f"iso_utc takes a datetime, not {type(value).__name__}")
    if value.tzinfo is UTC:  # what the run's UTC session gives: already UTC, only "+00:00" becomes "Z"
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")[:-6] + "Z"
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    timespec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=timespec) + "Z"


def exact_number(value: int | Decimal | None, *, column: str) -> int | Decimal | None:
    """``value`` unchanged when DynamoDB can store it exactly; ``None`` stays ``None``.

    Raises :class:`ItemError` for ``NaN``, ``Infinity`` and numbers out of DynamoDB's range or
    precision, and ``TypeError`` for a float (or a bool, which is not a number in DynamoDB).
    """
    return _exact_number(value, column, column)


def _exact_number(value: int | Decimal | None, column: str, path: str) -> int | Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise TypeError(f"{path}: {type(value).__name__} {value!r} is not an exact number: give int or Decimal")
    number = Decimal(value)
    if not number.is_finite():
        raise ItemError(
            f"{path} is {number}: NaN cannot be stored in DynamoDB (nor Infinity): fix the source row",
            column=column,
        )
    if not number.is_zero() and not _fits_dynamodb(number):
        raise ItemError(
            f"{path} is {number}: a DynamoDB number holds at most {MAX_SIGNIFICANT_DIGITS} significant "
            "digits and a magnitude from 1E-130 to below 1E+126 (it is never rounded): fix the source row",
            column=column,
        )
    return value


def _fits_dynamodb(number: Decimal) -> bool:
    # Counted on the digits themselves: Decimal.normalize() would round to the context's 28 digits.
    significant = len("".join(map(str, number.as_tuple().digits)).strip("0"))
    return significant <= MAX_SIGNIFICANT_DIGITS and MIN_ADJUSTED_EXPONENT <= number.adjusted() <= MAX_ADJUSTED_EXPONENT


def key_string(value: str, *, column: str, sort_key: bool = False) -> str:
    """``value`` when DynamoDB accepts it as a string key attribute (not empty, not too long)."""
    limit = MAX_SORT_KEY_BYTES if sort_key else MAX_PARTITION_KEY_BYTES
    size = len(value.encode("utf-8"))
    if size == 0:
        raise ItemError(f"{column} is an empty string, which DynamoDB refuses in a key attribute", column=column)
    if size > limit:
        raise ItemError(
            f"{column} is {size:,} bytes, over DynamoDB's {limit:,}-byte limit for a "
            f"{'sort' if sort_key else 'partition'} key",
            column=column,
        )
    return value


# -------------------------------------------------------------------------------------------------
# Documents
# -------------------------------------------------------------------------------------------------


def exact_json(value: Any, *, column: str) -> Any:
    """A parsed JSON value (dict/list/str/bool/None/int/Decimal) checked for DynamoDB.

    Every number goes through :func:`exact_number` (the error's column is ``column``; its message
    gives the path inside the document, e.g. ``content.blocks[2].score``); JSON nulls are kept.
    Tuples become lists. Anything JSON cannot hold raises ``TypeError``.
    """
    return _walk(value, column, column, _json_scalar)


def _json_scalar(value: Any, column: str, path: str) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, Decimal)):
        return _exact_number(value, column, path)
    raise TypeError(f"{path}: {type(value).__name__} {value!r} is not a JSON value of exact numbers")


def _walk(value: Any, column: str, path: str, scalar: Callable[[Any, str, str], Any]) -> Any:
    try:
        return _quick_walk(value, scalar)
    except (ItemError, TypeError, _NeedsNames):
        # Walk again, naming the path of every value: only a value that fails pays for the names.
        return _walk_naming(value, column, path, scalar)


def _walk_naming(value: Any, column: str, path: str, scalar: Callable[[Any, str, str], Any]) -> Any:
    if isinstance(value, Mapping):
        return {_map_key(key, path): _walk_naming(item, column, f"{path}.{key}", scalar)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk_naming(item, column, f"{path}[{index}]", scalar) for index, item in enumerate(value)]
    return scalar(value, column, path)


class _NeedsNames(Exception):
    """Raised by the quick walk for what it leaves to :func:`_walk_naming` (mappings that are not dicts)."""


_ALWAYS_FITS = 10**MAX_SIGNIFICANT_DIGITS  # an int of smaller magnitude is always a valid DynamoDB number


def _quick_walk(value: Any, scalar: Callable[[Any, str, str], Any]) -> Any:
    """:func:`_walk_naming` without the paths: the common types inline, the rest through ``scalar``
    (whose errors make :func:`_walk` start again with the paths)."""
    kind = type(value)
    if kind is str or kind is bool or value is None or (kind is int and -_ALWAYS_FITS < value < _ALWAYS_FITS):
        return value
    if kind is dict:
        result = {}
        for key, element in value.items():
            if type(key) is not str:
                raise _NeedsNames
            result[key] = element if type(element) is str else _quick_walk(element, scalar)
        return result
    if kind is list or kind is tuple:
        return [element if type(element) is str else _quick_walk(element, scalar) for element in value]
    if kind is Decimal and value.is_finite() and len(value.as_tuple().digits) <= MAX_SIGNIFICANT_DIGITS and \
            MIN_ADJUSTED_EXPONENT <= value.adjusted() <= MAX_ADJUSTED_EXPONENT:
        return value
    if isinstance(value, (Mapping, list, tuple)):
        raise _NeedsNames
    return scalar(value, "", "")


def _map_key(key: Any, path: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{path}: map key {key!r} is not a string")
    return key


class LegacyJson(NamedTuple):
    """The result of :func:`parse_legacy_json`: the parsed value, and the text when it was not JSON."""

    value: Any
    raw: str | None


def parse_legacy_json(text: str | None, *, column: str, warn: Callable[[str], None]) -> LegacyJson:
    """Parse JSON stored in a text column, by the contract's rules for ``lessons.metadata``.

    - NULL, ``''``, only whitespace, or the JSON ``null`` -> ``LegacyJson({}, None)``
    - valid JSON -> ``LegacyJson(parsed value with exact numbers, None)``; a ``NaN`` or
      ``Infinity`` inside raises :class:`ItemError` naming ``column``
    - anything else -> ``LegacyJson({}, text)``: the caller stores ``text`` verbatim under
      ``<column>_raw``; ``warn`` is called with a message naming the column and the parse error
      (the caller adds which row).
    """
    if text is None or not text.strip():
        return LegacyJson({}, None)
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        where = f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        warn(f"column {column} is not valid JSON ({reason}{where}): kept verbatim under {column}_raw")
        return LegacyJson({}, text)
    if parsed is None:
        return LegacyJson({}, None)
    return LegacyJson(exact_json(parsed, column=column), None)


# -------------------------------------------------------------------------------------------------
# Rows
# -------------------------------------------------------------------------------------------------


def attribute_value(value: Any, *, column: str) -> Any:
    """One PostgreSQL value (as psycopg2 returns it) as a DynamoDB attribute value.

    ``None`` stays ``None`` (the caller leaves it out); numbers are checked by
    :func:`exact_number`; ``datetime`` goes through :func:`iso_utc`, ``date`` and ``time`` to ISO
    strings; ``bytes``/``memoryview`` to ``bytes``; ``UUID`` to its string; arrays and ``jsonb``
    documents are walked like :func:`exact_json` (their nulls kept).
    """
    return _walk(value, column, column, _row_scalar)


def _row_scalar(value: Any, column: str, path: str) -> Any:
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, (bytes, uuid.UUID)):
        return value if isinstance(value, bytes) else str(value)
    return _json_scalar(value, column, path)


def row_attributes(row: Mapping[str, Any], *, rename: Mapping[str, str] | None = None,
                   lists: Iterable[str] = (), column_prefix: str = "") -> dict[str, Any]:
    """The attributes of one source row: attribute names are the column names.

    ``rename`` maps a column to its attribute name (``{"id": "lesson_id"}``). NULL columns are
    left out, except the ``lists`` columns, which become ``[]``. ``column_prefix`` is put before
    column names in errors (``"questions."`` for an embedded record).
    """
    rename = rename or {}
    lists = frozenset(lists)
    attributes: dict[str, Any] = {}
    for column, value in row.items():
        kind = type(value)
        if kind is str or kind is bool or (kind is int and -_ALWAYS_FITS < value < _ALWAYS_FITS):
            converted = value  # most columns: nothing to convert or check
        elif kind is dt.datetime:
            converted = iso_utc(value)
        else:
            converted = None if value is None else attribute_value(value, column=f"{column_prefix}{column}")
        if converted is None:
            if column not in lists:
                continue
            converted = []
        attributes[rename.get(column, column)] = converted
    return attributes
