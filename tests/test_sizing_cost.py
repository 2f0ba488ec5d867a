"""Item size, request units and cost against DynamoDB's documented rules
(Developer Guide: "DynamoDB item sizes and formats" and the on-demand pricing examples)."""

from decimal import Decimal

import pytest

from pni_tasks.config import Prices
from pni_tasks.cost import cost, format_usd
from pni_tasks.hashing import content_hash, dynamodb_number
from pni_tasks.model import PreparedItem
from pni_tasks.sizing import item_size, number_size, read_units, write_units


def test_string_counts_name_and_utf8_bytes():
    assert item_size({"name": "abc"}) == 4 + 3
    assert item_size({"t": "é"}) == 1 + 2          # two UTF-8 bytes
    assert item_size({"t": "🎉"}) == 1 + 4         # emoji: four bytes
    assert item_size({"t": "שלום"}) == 1 + 8       # Hebrew: two bytes a letter


@pytest.mark.parametrize(("number", "size"), [
    (0, 2), (7, 2), (12, 2), (123, 3), (Decimal("2.50"), 2), (Decimal("1.5"), 2),
    (100, 2),                                      # leading and trailing zeros are trimmed
    (Decimal("0.001"), 2), (12345678901234567890, 11), (Decimal("-3.14159"), 4),
])
def test_number_is_one_byte_per_two_significant_digits_plus_one(number, size):
    assert number_size(number) == size


def test_null_and_boolean_are_one_byte():
    assert item_size({"flag": True}) == 4 + 1
    assert item_size({"flag": False}) == 4 + 1
    assert item_size({"none": None}) == 4 + 1


def test_list_and_map_add_three_bytes_and_one_per_element():
    assert item_size({"l": []}) == 1 + 3
    assert item_size({"m": {}}) == 1 + 3
    assert item_size({"l": ["a", "bc"]}) == 1 + 3 + (1 + 1) + (1 + 2)
    # a map element counts its own name too
    assert item_size({"m": {"k": "v", "kk": 1}}) == 1 + 3 + (1 + 1 + 1) + (1 + 2 + 2)


def test_write_units_round_each_item_up_to_a_kilobyte():
    assert write_units(1) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(3 * 1024) == 3            # "a standard write of a 3 KB item needs 3 WCU"
    assert PreparedItem(key=(1,), item={}, content_hash="", size=500).write_units == 1


def test_read_units_per_started_4kb_half_when_eventually_consistent():
    assert read_units(8 * 1024, consistent=True) == 2   # "strongly consistent read of an 8 KB item: 2 RCU"
    assert read_units(8 * 1024) == 1                    # "eventually consistent: 1 RCU"
    assert read_units(1) == 0.5
    assert read_units(4097, consistent=True) == 2


def test_cost_at_us_east_1_on_demand_prices():
    prices = Prices(wru_per_million=0.625, rru_per_million=0.125)
    assert cost(1_000_000, 0, prices) == pytest.approx(0.625)
    assert cost(0, 1_000_000, prices) == pytest.approx(0.125)
    assert cost(650_000, 550_000, prices) == pytest.approx(0.40625 + 0.06875)
    assert format_usd(0.40625) == "$0.406250"
    assert format_usd(1234.5) == "$1,234.50"


def test_numbers_hash_as_dynamodb_stores_them():
    assert dynamodb_number(Decimal("2.50")) == "2.5"
    assert dynamodb_number(Decimal("1E+2")) == "100"
    assert dynamodb_number(Decimal("-0.0")) == "0"
    stored = {"id": Decimal("1"), "price": Decimal("2.5"), "nested": {"x": [Decimal("10")]}}
    sent = {"id": 1, "price": Decimal("2.50"), "nested": {"x": [Decimal("1E+1")]}}
    assert content_hash(stored) == content_hash(sent)


def test_hash_ignores_timestamps_at_top_level_and_in_embedded_records_only():
    item = {"id": 1, "updated_at": "2024-01-01T00:00:00Z",
            "questions": [{"q": 1, "updated_at": "2024-01-01T00:00:00Z"}]}
    touched = {"id": 1, "updated_at": "2025-01-01T00:00:00Z", "migrated_at": "x", "content_hash": "y",
               "questions": [{"q": 1, "updated_at": "2025-01-01T00:00:00Z"}]}
    assert content_hash(item) == content_hash(touched)
    assert content_hash(item) != content_hash({**item, "questions": [{"q": 2, "updated_at": "x"}]})
    # a string "1" and the number 1 are different content
    assert content_hash({"id": 1, "v": "1"}) != content_hash({"id": 1, "v": 1})
    with pytest.raises(TypeError):
        content_hash({"id": 1, "v": 1.5})


def test_an_item_nested_deeper_than_dynamodb_allows_fails_alone():
    from pni_tasks.errors import ItemError
    from pni_tasks.model import KeyAttribute, TableSpec
    from pni_tasks.transform import prepare

    def nested(levels: int) -> dict:
        value: dict = {"leaf": 1}
        for _ in range(levels - 1):
            value = {"n": value}
        return value

    spec = TableSpec(name="pni-deep", hash_key=KeyAttribute("id", "N"))
    assert prepare(spec, {"id": 1, "doc": nested(32)}, "2024-01-01T00:00:00Z").key == (1,)
    with pytest.raises(ItemError, match="32"):
        prepare(spec, {"id": 2, "doc": nested(33)}, "2024-01-01T00:00:00Z")


def test_the_fast_canonical_text_is_the_reference_serialization():
    """canonical_json writes the text directly for speed; it must stay byte-identical to the plain
    definition, or stored hashes would stop matching."""
    import json
    import random

    from pni_tasks.hashing import _canonical, canonical_json, hashable_view

    rng = random.Random(5)
    scalars = [None, True, False, 0, -7, 10**40, Decimal("2.50"), Decimal("-0.0"), Decimal("1E+3"), "",
               "é🎉שלום", "quote \" and \\ backslash", b"\x00\xff"]

    def value(depth: int):
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice(scalars)
        if roll < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        names = ["a", "B", "updated_at", "é", "10", "2"]
        return {rng.choice(names): value(depth + 1) for _ in range(rng.randint(0, 4))}

    for _ in range(2000):
        item = {"id": rng.randint(1, 10**6), "updated_at": "x",
                **{f"k{i}": value(0) for i in range(rng.randint(0, 6))},
                "questions": [value(1) for _ in range(rng.randint(0, 3))]}
        reference = json.dumps(_canonical(hashable_view(item)), sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        assert canonical_json(item) == reference
