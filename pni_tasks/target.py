"""One data table as a write strategy sees it: create or recreate it, and what it holds now."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pni_tasks.hashing import content_hash
from pni_tasks.metadata import Manifest
from pni_tasks.model import Key, TableSpec, key_text
from pni_tasks.sink import ReadUsage, TableInfo, create_table, delete_table, describe_table, scan

if TYPE_CHECKING:
    from pni_tasks.session import Session


class TargetTable:
    """The DynamoDB table of ``spec`` in the session's environment.

    ``known_hash`` answers from the table's hash manifest (one cheap Query) when it is valid for
    this incarnation of the table, and from a scan of the real items otherwise (or with
    ``rescan``). In a dry run nothing is created, deleted or written.
    """

    def __init__(self, session: Session, spec: TableSpec, *, dry_run: bool = False, rescan: bool = False) -> None:
        self.session = session
        self.spec = spec
        self.name = session.env.table_name(spec.name)
        self.dry_run = dry_run
        self.rescan = rescan
        self.usage = ReadUsage()
        self.info: TableInfo | None = describe_table(session.client, self.name)
        self.manifest: Manifest | None = None
        self.hash_source = "none"
        self._known: dict[str, str] | None = None
        self._empty = False

    # -- lifecycle (strategies call these) ------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.info is not None

    def ensure_exists(self) -> None:
        if self.exists or self.dry_run:
            self._empty = not self.exists
            return
        create_table(self.session.client, self.name, self.spec, self.session.tags)
        self.session.fresh_tables.add(self.name)
        self.info = describe_table(self.session.client, self.name)
        self._empty = True

    def recreate(self) -> None:
        """Delete and recreate the table (waiting for both), unless this command just created it."""
        self._empty = True
        self._known = {}
        if self.dry_run or self.name in self.session.fresh_tables:
            return
        delete_table(self.session.client, self.name)
        create_table(self.session.client, self.name, self.spec, self.session.tags)
        self.session.fresh_tables.add(self.name)
        self.info = describe_table(self.session.client, self.name)

    # -- what is stored -------------------------------------------------------------------------

    def known_hash(self, key: Key) -> str | None:
        return self.known().get(key_text(key))

    def known(self) -> dict[str, str]:
        if self._known is None:
            self._known = self._load_known()
        return self._known

    def _load_known(self) -> dict[str, str]:
        if self._empty or not self.exists:
            self.hash_source = "empty table"
            return {}
        if not self.rescan and self.session.metadata.exists():
            self.manifest = self.session.metadata.read_manifest(self.name, self.info.identity, self.usage)
            if self.manifest is not None:
                self.hash_source = "manifest"
                return dict(self.manifest.entries)
        # A scan is charged for whole items even with a projection, so read them whole and re-hash
        # what is really stored: an item edited by hand is then rewritten, not skipped.
        self.hash_source = "scan"
        return {key_text(self.spec.key_of(item)): content_hash(item)
                for item in scan(self.session.client, self.name, self.usage)}

    def key_item(self, text: str) -> dict[str, Any]:
        """The key attributes of a key text (as stored in manifests), typed for DynamoDB."""
        values = json.loads(text, parse_int=Decimal, parse_float=Decimal)
        attributes = [self.spec.hash_key] + ([self.spec.range_key] if self.spec.range_key else [])
        return {attr.name: Decimal(value) if attr.type == "N" else value
                for attr, value in zip(attributes, values, strict=True)}

    def orphan_texts(self, seen: set[str]) -> Iterator[str]:
        return (text for text in self.known() if text not in seen)
