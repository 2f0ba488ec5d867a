"""From a source group to prepared items: the transformer hook, then hash, size and the 400 KB guard."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from pni_tasks.errors import ItemError, PluginError
from pni_tasks.hashing import content_hash
from pni_tasks.model import ItemFailure, PreparedItem, SourceGroup, TableSpec, key_text
from pni_tasks.sizing import MAX_ITEM_BYTES, NestingTooDeep, item_size


@dataclass
class TransformContext:
    """What a transformer may use besides the source group.

    ``migrated_at``: the run's start time (ISO-8601 UTC with ``Z``).
    ``settings``: the plugin's section of ``pni.plugin_settings``.
    ``warn(message)``: report a problem that does not stop the item (shown and counted).
    """

    migrated_at: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


MAX_NESTING_DEPTH = 32


def _nesting_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_nesting_depth(v) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max((_nesting_depth(v) for v in value), default=0)
    return 0


def prepare(table: TableSpec, item: dict[str, Any], migrated_at: str) -> PreparedItem:
    """Hash, stamp and size one item; raise ItemError when DynamoDB could not store it."""
    item = {k: v for k, v in item.items() if v is not None}
    for name in table.key_names:
        if name not in item:
            raise ItemError(f"item has no key attribute {name}", column=name)
    try:
        digest = content_hash(item)
    except (TypeError, ValueError) as exc:
        raise ItemError(f"value cannot be stored in DynamoDB: {exc}") from None
    item["content_hash"] = digest
    item["migrated_at"] = migrated_at
    try:
        size = item_size(item, max_depth=MAX_NESTING_DEPTH)  # one walk sizes and checks the nesting
    except NestingTooDeep:
        depth = _nesting_depth(item) - 1  # the item itself is not a nesting level
        message = f"item nests {depth} levels of lists/maps, over DynamoDB's {MAX_NESTING_DEPTH}: not sent"
        raise ItemError(message) from None
    if size > MAX_ITEM_BYTES:
        raise ItemError(f"item is {size:,} bytes, over DynamoDB's {MAX_ITEM_BYTES:,}-byte (400 KB) limit: not sent")
    return PreparedItem(key=table.key_of(item), item=item, content_hash=digest, size=size)


def raising_plugin(hook: pluggy.HookCaller, exc: BaseException) -> str | None:
    """The name of the plugin whose implementation of ``hook`` raised ``exc``, if it can be told.

    pluggy calls every implementation from one loop, so only the traceback tells them apart: the
    outermost frame running an implementation's function names its plugin; failing that (the
    implementation returned a generator that raised later), the outermost frame in a plugin's module.
    """
    by_code: dict[Any, str] = {}
    by_module: dict[str, str] = {}
    for impl in hook.get_hookimpls():
        function = getattr(impl.function, "__func__", impl.function)
        if hasattr(function, "__code__"):
            by_code[function.__code__] = impl.plugin_name
        by_module.setdefault(getattr(function, "__module__", None) or "", impl.plugin_name)
    frames = []
    traceback = exc.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    for frame in frames:
        if frame.f_code in by_code:
            return by_code[frame.f_code]
    for frame in frames:
        module = frame.f_globals.get("__name__", "")
        if module and module in by_module:
            return by_module[module]
    return None


def items_of_group(
    pm: pluggy.PluginManager,
    table: TableSpec,
    group: SourceGroup,
    context: TransformContext,
    on_failure: Callable[[ItemFailure], None],
) -> Iterator[PreparedItem]:
    """Run the transformer hook on one group and prepare its items; failures go to ``on_failure``."""
    try:
        items = pm.hook.pni_transform(table=table, group=group, context=context)
        if items is not None:
            items = list(items)  # a generator's exception belongs to the plugin too
    except ItemError as exc:
        on_failure(ItemFailure(table.name, group.key, str(exc), exc.column))
        return
    except Exception as exc:
        # the plugin whose code raised, not the table's owner: any plugin may transform any table
        plugin = raising_plugin(pm.hook.pni_transform, exc) or table.plugin
        raise PluginError(
            f"plugin {plugin} raised {type(exc).__name__} transforming table {table.name} row "
            f"{group.key}: {exc}"
        ) from exc
    if items is None:
        raise PluginError(f"no plugin transforms table {table.name} (plugin {table.plugin} returned None)")
    for item in items:
        try:
            yield prepare(table, item, context.migrated_at)
        except ItemError as exc:
            key = key_text(table.key_of(item)) if all(item.get(k) is not None for k in table.key_names) else group.key
            on_failure(ItemFailure(table.name, f"{'/'.join(table.key_names)}={key}", str(exc), exc.column))
