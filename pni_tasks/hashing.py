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
from typing import Any

EXCLUDED_FIELDS = frozenset({"created_at", "updated_at", "migrated_at", "content_hash"})


def dynamodb_number(value: Decimal | int) -> str:
    """A number as DynamoDB stores it: no exponent, no trailing zeros, no ``-0``."""
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
    return json.dumps(_canonical(hashable_view(item)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(item: Mapping[str, Any]) -> str:
    """MD5 (hex) of the canonical serialization of ``item``."""
    return hashlib.md5(canonical_json(item).encode("utf-8"), usedforsecurity=False).hexdigest()
