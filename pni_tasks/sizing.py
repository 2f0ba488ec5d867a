"""DynamoDB's item size rules, and the request units they cost.

From the DynamoDB Developer Guide ("Working with items: item sizes"): an item's size is the sum
of its attribute names' and values' sizes. Strings and binaries count their (UTF-8) bytes;
a number counts 1 byte per two significant digits plus 1; booleans and NULL 1 byte; a list or
map 3 bytes plus 1 byte per element plus its elements (a map's element also counts its name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

MAX_ITEM_BYTES = 400 * 1024
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def number_size(value: Decimal | int) -> int:
    """1 byte per two significant digits (leading and trailing zeros trimmed), plus 1."""
    digits = "".join(map(str, Decimal(value).as_tuple().digits)).strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, Decimal)):
        return number_size(value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode("utf-8")) + value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + value_size(v) for v in value)
    if hasattr(value, "value"):  # boto3's Binary
        return len(value.value)
    raise TypeError(f"cannot size a {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for ``item`` (attribute names included)."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write request units for one item: 1 per started KB, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool = False) -> float:
    """Read request units for reading ``size`` bytes: 1 per started 4 KB, half when eventually consistent."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
