"""Building the plugin manager: specs, disabled names, entry points, the local folder, validation.

Built-in tables and strategies come in through the ``pni_tasks`` entry-point group of this
project's own ``pyproject.toml``, exactly like a third party's plugin package.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pluggy

from pni_tasks import PROJECT_NAME, hookspecs
from pni_tasks.errors import ConfigError, PluginError
from pni_tasks.model import TableSpec

ENTRY_POINT_GROUP = PROJECT_NAME
BUILTIN_PLUGINS = ("lessons", "passages", "topics", "clean", "incremental")


def _load_folder(pm: pluggy.PluginManager, folder: Path, disabled: set[str]) -> None:
    if not folder.is_dir():
        raise ConfigError(f"plugins folder {folder} (setting pni.plugins.folder) does not exist: create it or unset it")
    for path in sorted(folder.glob("*.py")):
        name = path.stem
        if name.startswith("_") or name in disabled:
            continue
        module_name = f"pni_local_plugins.{name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise PluginError(f"plugin {name} ({path}) failed to import: {type(exc).__name__}: {exc}") from exc
        sys.modules[module_name] = module
        with _validation_errors_named(pm, name):
            pm.register(module, name=name)


def _import_entry_points(disabled: set[str]) -> None:
    """Import each installed plugin first, so one that fails is named instead of raising a traceback."""
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in disabled:
            continue
        try:
            entry_point.load()
        except Exception as exc:
            dist = entry_point.dist.name if entry_point.dist else "an installed package"
            raise PluginError(
                f"plugin {entry_point.name} (entry point {entry_point.value} of {dist}) failed to import: "
                f"{type(exc).__name__}: {exc}: fix or uninstall it, or add it to pni.plugins.disabled"
            ) from exc


def make_plugin_manager(plugin_config: Mapping[str, Any] | None = None,
                        extra: Iterable[tuple[str, object]] = ()) -> pluggy.PluginManager:
    """Specs, blocked names, entry points, the local folder, ``extra`` plugins, then ``check_pending``.

    ``plugin_config`` is the ``pni.plugins`` configuration section (``folder``, ``disabled``).
    """
    plugin_config = plugin_config or {}
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    disabled = set(plugin_config.get("disabled") or [])
    for name in disabled:
        pm.set_blocked(name)
    _import_entry_points(disabled)
    with _validation_errors_named(pm):
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    missing = [name for name in BUILTIN_PLUGINS if name not in disabled and pm.get_plugin(name) is None]
    if missing:
        raise ConfigError(
            f"built-in plugins {', '.join(missing)} are not registered: install the project "
            "(pip install -e .) so its entry points exist"
        )
    if plugin_config.get("folder"):
        _load_folder(pm, Path(plugin_config["folder"]).expanduser(), disabled)
    for name, plugin in extra:
        with _validation_errors_named(pm, name):
            pm.register(plugin, name=name)
    check_plugins(pm)
    return pm


def check_plugins(pm: pluggy.PluginManager) -> None:
    """pluggy's own validation of hooks no spec declares, with the plugin named in one line."""
    with _validation_errors_named(pm):
        pm.check_pending()


@contextlib.contextmanager
def _validation_errors_named(pm: pluggy.PluginManager, name: str | None = None):
    try:
        yield
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {_plugin_name(pm, exc, name)}{_plugin_file(exc.plugin)}: "
                          f"{_validation_problem(pm, str(exc))}") from None


def _plugin_name(pm: pluggy.PluginManager, exc: pluggy.PluginValidationError, name: str | None) -> str:
    # A plugin refused by register() is not registered, so pm.get_name() does not know it;
    # pluggy's message still carries the name it was being registered under.
    quoted = re.match(r"Plugin '([^']+)'", str(exc))
    return (name or pm.get_name(exc.plugin) or (quoted.group(1) if quoted else None)
            or getattr(exc.plugin, "__name__", repr(exc.plugin)))


def _plugin_file(plugin: object) -> str:
    path = getattr(plugin, "__file__", None) if inspect.ismodule(plugin) else None
    return f" ({path})" if path else ""


def _validation_problem(pm: pluggy.PluginManager, message: str) -> str:
    """pluggy's multi-line validation message as one line that says what to change."""
    hooks = sorted(name for name in dir(hookspecs) if name.startswith("pni_"))
    unknown = re.match(r"unknown hook '([^']+)'", message)
    if unknown:
        close = difflib.get_close_matches(unknown.group(1), hooks, n=1)
        hint = f"did you mean {close[0]}?" if close else f"the hooks are {', '.join(hooks)}"
        return f"unknown hook {unknown.group(1)}: fix its name ({hint})"
    arguments = re.search(r"for hook '([^']+)'.*Argument\(s\) \{(.*)\} are declared", message, re.S)
    if arguments:
        hook, extra = arguments.group(1), arguments.group(2).replace("'", "")
        spec = getattr(pm.hook, hook).spec
        return (f"hook {hook} has argument(s) {extra} that its spec does not declare: use only "
                f"{', '.join(spec.argnames)} (in any order, any subset)")
    return " ".join(line.strip() for line in message.splitlines()) + ": fix the hook"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    origin: str
    hooks: tuple[str, ...]


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Each loaded plugin, where it came from, and the hooks it implements (for ``inv plugins``)."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            origin = f"entry point of {dist.project_name} {dist.version}"
        elif isinstance(plugin, type(sys)) and getattr(plugin, "__file__", None):
            origin = f"file {plugin.__file__}"
        else:
            origin = f"registered object {type(plugin).__name__}" if not inspect.ismodule(plugin) else "module"
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or []))
        infos.append(PluginInfo(name=name, origin=origin, hooks=hooks))
    return infos


def registered_tables(pm: pluggy.PluginManager) -> dict[str, TableSpec]:
    """Every table the plugins provide, by name; a name registered twice names both plugins."""
    tables: dict[str, TableSpec] = {}
    for impl in pm.hook.pni_register_tables.get_hookimpls():  # registration order
        plugin_name = pm.get_name(impl.plugin)

        def register(spec: TableSpec, _plugin: str = plugin_name) -> None:
            if not isinstance(spec, TableSpec):
                raise PluginError(f"plugin {_plugin}: pni_register_tables registered {spec!r}, not a TableSpec")
            if spec.name in tables:
                raise PluginError(
                    f"table {spec.name} is registered by both plugin {tables[spec.name].plugin} and plugin "
                    f"{_plugin}: disable one (pni.plugins.disabled)"
                )
            tables[spec.name] = replace(spec, plugin=_plugin)

        _call_impl(impl, plugin_name, "pni_register_tables", register=register)
    return tables


def registered_strategies(pm: pluggy.PluginManager) -> dict[str, Any]:
    """Every write strategy the plugins provide, by name."""
    from pni_tasks.strategy import WriteStrategy

    strategies: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in pm.hook.pni_register_strategies.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin)

        def register(strategy: WriteStrategy, _plugin: str = plugin_name) -> None:
            if not isinstance(strategy, WriteStrategy) or not strategy.name:
                raise PluginError(f"plugin {_plugin}: registered {strategy!r}, not a named WriteStrategy")
            if strategy.name in strategies:
                raise PluginError(
                    f"strategy {strategy.name} is registered by both plugin {owners[strategy.name]} and "
                    f"plugin {_plugin}: disable one (pni.plugins.disabled)"
                )
            strategies[strategy.name] = strategy
            owners[strategy.name] = _plugin

        _call_impl(impl, plugin_name, "pni_register_strategies", register=register)
    return strategies


def _call_impl(impl: pluggy.HookImpl, plugin_name: str, hook: str, **kwargs: Any) -> None:
    try:
        impl.function(**{name: kwargs[name] for name in impl.argnames})
    except (PluginError, ConfigError):
        raise
    except Exception as exc:
        raise PluginError(f"plugin {plugin_name}: {hook} raised {type(exc).__name__}: {exc}") from exc
