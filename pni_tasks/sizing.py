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
    if type(value) is int:
        digits = str(value if value >= 0 else -value).rstrip("0")  # an int's text has no leading zeros
    else:
        digits = "".join(map(str, Decimal(value).as_tuple().digits)).strip("0")
    return (len(digits or "0") + 1) // 2 + 1


class NestingTooDeep(ValueError):
    """An item nests lists and maps deeper than the ``max_depth`` given to :func:`item_size`."""


_NO_LIMIT = 1 << 30


def value_size(value: Any, depth: int = 1, max_depth: int = _NO_LIMIT) -> int:
    """Bytes of one attribute value; ``depth``: its nesting level (an attribute's value is level 1)."""
    kind = type(value)
    if kind is str:
        return len(value) if value.isascii() else len(value.encode("utf-8"))
    if kind is int or kind is Decimal:
        return number_size(value)
    if kind is dict or kind is list or isinstance(value, (Mapping, list, tuple)):
        return _container_size(value, depth, max_depth)
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, Decimal)):
        return number_size(value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if hasattr(value, "value"):  # boto3's Binary
        return len(value.value)
    raise TypeError(f"cannot size a {type(value).__name__}")


def _container_size(value: Any, depth: int, max_depth: int) -> int:
    # 3 bytes, plus 1 per element, plus the elements (a map's element also counts its name). Strings,
    # the commonest elements, are sized inline: a call per value would cost more than the sizing.
    if depth > max_depth:
        raise NestingTooDeep(depth)
    size = 3
    inner = depth + 1
    if isinstance(value, Mapping):
        for name, element in value.items():
            if type(name) is not str:
                name = str(name)
            size += 1 + (len(name) if name.isascii() else len(name.encode("utf-8")))
            if type(element) is str:
                size += len(element) if element.isascii() else len(element.encode("utf-8"))
            else:
                size += value_size(element, inner, max_depth)
        return size
    for element in value:
        if type(element) is str:
            size += 1 + (len(element) if element.isascii() else len(element.encode("utf-8")))
        else:
            size += 1 + value_size(element, inner, max_depth)
    return size


def item_size(item: Mapping[str, Any], *, max_depth: int | None = None) -> int:
    """Bytes DynamoDB counts for ``item`` (attribute names included).

    With ``max_depth``, raise :class:`NestingTooDeep` in the same walk when lists and maps nest
    deeper than that (an attribute that is a list is level 1; a list in it, level 2).
    """
    # an item is a map without the map's own overhead (3 bytes, and 1 byte per attribute)
    return _container_size(item, 0, _NO_LIMIT if max_depth is None else max_depth) - 3 - len(item)


def write_units(size: int) -> int:
    """Write request units for one item: 1 per started KB, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool = False) -> float:
    """Read request units for reading ``size`` bytes: 1 per started 4 KB, half when eventually consistent."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
