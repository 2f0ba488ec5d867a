"""The content hash: MD5 of a canonical serialization of an item, as DynamoDB will store it.

Numbers are written the way DynamoDB normalizes them (``2.50`` -> ``2.5``, ``1E+2`` -> ``100``),
so hashing an item read back from DynamoDB gives the hash computed from PostgreSQL. Timestamp
fields are left out at the top level and inside embedded records (maps in a top-level list,
such as a lesson's questions), so a change to a timestamp alone is not a change of content.
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring as _quote  # what json.dumps uses (ensure_ascii=False)
from typing import Any

EXCLUDED_FIELDS = frozenset({"created_at", "updated_at", "migrated_at", "content_hash"})


def dynamodb_number(value: Decimal | int) -> str:
    """A number as DynamoDB stores it: no exponent, no trailing zeros, no ``-0``."""
    if type(value) is int and -_EXACT_INT < value < _EXACT_INT:
        return str(value)  # what the Decimal route below gives for any int it keeps exactly, 20x faster
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers in DynamoDB")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{value} cannot be stored in DynamoDB")
    if number.is_zero():
        return "0"
    # DynamoDB keeps 38 significant digits; the default context (28) would round before we compare.
    return format(number.normalize(_WIDE), "f")


_WIDE = decimal.Context(prec=80)
_EXACT_INT = 10**80  # below this, normalizing in _WIDE keeps every digit of an int


def _canonical(value: Any) -> Any:
    # Tagged so that "1" (a string), 1 (a number) and true never collide.
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, Decimal)):
        return {"N": dynamodb_number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Mapping):
        return {"M": {str(k): _canonical(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_canonical(v) for v in value]}
    if isinstance(value, float):
        raise TypeError("floats are not exact: give numbers as Decimal or int")
    if hasattr(value, "value"):  # boto3's Binary
        return {"B": base64.b64encode(bytes(value.value)).decode()}
    raise TypeError(f"cannot hash a {type(value).__name__}")


def hashable_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item without the timestamp fields, at the top level and in embedded records."""
    view = {}
    for name, value in item.items():
        if name in EXCLUDED_FIELDS:
            continue
        if isinstance(value, (list, tuple)):
            value = [
                {k: v for k, v in element.items() if k not in EXCLUDED_FIELDS}
                if isinstance(element, Mapping) else element
                for element in value
            ]
        view[name] = value
    return view


def canonical_json(item: Mapping[str, Any]) -> str:
    """``json.dumps(_canonical(hashable_view(item)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))``,
    written directly: the same text, without building the tagged copy of the item first."""
    parts: list[str] = []
    _write_map(item, parts, EXCLUDED_FIELDS, True)
    return "".join(parts)


def _write_map(mapping: Mapping[Any, Any], parts: list[str], excluded: frozenset[str], embeds: bool) -> None:
    # ``embeds``: the top level, whose lists' maps are embedded records that lose their timestamps too.
    # The common scalars are written inline: a function call per value would cost more than the writing.
    append = parts.append
    separator = '{"M":{'
    for key in sorted(mapping, key=str):
        name = key if type(key) is str else str(key)
        if name in excluded:
            continue
        value = mapping[key]
        kind = type(value)
        if kind is str:
            append(f'{separator}{_quote(name)}:{{"S":{_quote(value)}}}')
        elif kind is int and -_EXACT_INT < value < _EXACT_INT:
            append(f'{separator}{_quote(name)}:{{"N":"{value}"}}')
        else:
            append(f"{separator}{_quote(name)}:")
            if embeds and (kind is list or kind is tuple or isinstance(value, (list, tuple))):
                _write_list(value, parts, EXCLUDED_FIELDS)
            else:
                _write(value, parts)
        separator = ","
    append("}}" if separator == "," else '{"M":{}}')


def _write_list(values: Any, parts: list[str], excluded: frozenset[str] = frozenset()) -> None:
    append = parts.append
    separator = '{"L":['
    for value in values:
        kind = type(value)
        if kind is str:
            append(f'{separator}{{"S":{_quote(value)}}}')
        elif excluded and (kind is dict or isinstance(value, Mapping)):
            append(separator)
            _write_map(value, parts, excluded, False)
        else:
            append(separator)
            _write(value, parts)
        separator = ","
    append("]}" if separator == "," else '{"L":[]}')


_NO_FIELDS: frozenset[str] = frozenset()


def _write(value: Any, parts: list[str]) -> None:
    """Any value, in _canonical's order of types (exact types first, for speed)."""
    kind = type(value)
    if kind is str:
        parts.append(f'{{"S":{_quote(value)}}}')
    elif kind is int or kind is Decimal:
        parts.append(f'{{"N":"{dynamodb_number(value)}"}}')
    elif kind is dict:
        _write_map(value, parts, _NO_FIELDS, False)
    elif kind is list:
        _write_list(value, parts)
    elif value is None:
        parts.append('{"NULL":true}')
    elif isinstance(value, bool):
        parts.append('{"BOOL":true}' if value else '{"BOOL":false}')
    elif isinstance(value, (int, Decimal)):
        parts.append(f'{{"N":"{dynamodb_number(value)}"}}')
    elif isinstance(value, str):
        parts.append(f'{{"S":{_quote(value)}}}')
    elif isinstance(value, Mapping):
        _write_map(value, parts, _NO_FIELDS, False)
    elif isinstance(value, (list, tuple)):
        _write_list(value, parts)
    else:  # bytes, boto3's Binary, or a type _canonical refuses
        parts.append(json.dumps(_canonical(value), ensure_ascii=False, separators=(",", ":")))


def content_hash(item: Mapping[str, Any]) -> str:
    """MD5 (hex) of the canonical serialization of ``item``."""
    return hashlib.md5(canonical_json(item).encode("utf-8"), usedforsecurity=False).hexdigest()
