"""One environment for one command: settings, plugins, clients, and what the command already did."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from pni_tasks import __version__
from pni_tasks.config import EnvSettings, PgCredentials, env_settings, pg_credentials
from pni_tasks.errors import ConfigError
from pni_tasks.metadata import MetadataStore
from pni_tasks.model import TableSpec
from pni_tasks.plugins import make_plugin_manager, registered_strategies, registered_tables
from pni_tasks.recorder import RunRecorder
from pni_tasks.sink import RequestCounter, dynamodb_client
from pni_tasks.source import Source


class Session:
    """Everything a stage needs about one environment, built once per command and shared by its stages.

    Clients are created lazily, so ``inv setup`` or ``inv plugins`` never touch the network.
    ``fresh_tables`` remembers tables this command created empty, so ``migrate --clean`` does
    not recreate a table ``create-tables --clean`` made a moment before.
    """

    def __init__(self, env: EnvSettings, pm: pluggy.PluginManager, *,
                 local_settings: Mapping[str, Any] | None = None) -> None:
        self.env = env
        self.pm = pm
        self.local_settings = dict(local_settings or {})
        self.counter = RequestCounter()
        self.fresh_tables: set[str] = set()
        self.documents: dict[str, Any] = {}
        self.all_tables = registered_tables(pm)
        self.strategies = registered_strategies(pm)
        self.tables = self._selected_tables()
        self._client: Any = None
        self._metadata: MetadataStore | None = None
        self.pm.register(RunRecorder(self), name="run-recorder")

    @classmethod
    def from_config(cls, pni: Mapping[str, Any], env_name: str | None = None,
                    extra_plugins: Iterable[tuple[str, object]] = ()) -> Session:
        """Build a session from the resolved ``pni`` configuration tree (a dict or invoke DataProxy)."""
        env = env_settings(pni, env_name)
        pm = make_plugin_manager(pni.get("plugins") or {}, extra=extra_plugins)
        return cls(env, pm, local_settings=pni.get("local") or {})

    def _selected_tables(self) -> list[TableSpec]:
        if not self.env.tables:
            return list(self.all_tables.values())
        unknown = [name for name in self.env.tables if name not in self.all_tables]
        if unknown:
            raise ConfigError(
                f"unknown table {unknown[0]!r} in setting pni.tables: known tables are "
                f"{', '.join(sorted(self.all_tables))}"
            )
        return [self.all_tables[name] for name in self.env.tables]

    @property
    def tags(self) -> dict[str, str]:
        return {"env": self.env.name, "tool": "pni-migrate", "tool-version": __version__}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client(self.env, self.counter)
        return self._client

    @property
    def metadata(self) -> MetadataStore:
        if self._metadata is None:
            self._metadata = MetadataStore(self.client, self.env.metadata_table, self.tags)
        return self._metadata

    def pg_credentials(self) -> PgCredentials:
        return pg_credentials(self.env, self.local_settings)

    def open_source(self) -> Source:
        return Source.connect(self.pg_credentials(), batch_size=self.env.batch_size,
                              connect_timeout=self.env.connect_timeout)

    def strategy(self, name: str) -> Any:
        if name not in self.strategies:
            raise ConfigError(f"unknown strategy {name!r}: known strategies are {', '.join(sorted(self.strategies))}")
        return self.strategies[name]

    def plugin_settings(self, spec: TableSpec) -> Mapping[str, Any]:
        return self.env.plugin_settings.get(spec.plugin) or {}

    def secrets(self) -> list[str]:
        """Values that must never be shown (the redacting log filter uses them)."""
        try:
            return self.pg_credentials().secrets()
        except ConfigError:
            return []
