"""The ``pni-cache-metadata`` table: run records, per-table state, hash manifests, verify results.

Item layout (``pk`` / ``sk``):

- ``run`` / ``<started_at>#<run_id>``: one item per run (env, strategy, status, start/end,
  per-table counts, units, cost, tool version). Written as ``running`` at the start and
  finished at the end; a later run that finds a ``running`` record whose process is gone marks
  it ``interrupted``.
- ``table#<table>`` / ``state``: the table's last successful run and its counts.
- ``manifest#<table>#<identity digest>`` / ``chunk#NNNNN``: the table's key -> content hash map,
  split into chunks of at most ~300 KB. The partition names the data table's identity (TableId, or
  ARN and creation time), so a recreated table starts a new, empty manifest and never pays to read
  or delete the old one (``inv cleanup`` removes the whole metadata table). One Query returns
  thousands of hashes, which makes a no-change incremental run cost a few read units, not a scan.
- ``verify`` / ``<finished_at>``: the result of each ``inv verify``.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pni_tasks.model import KeyAttribute, TableSpec
from pni_tasks.sink import ReadUsage, create_table, describe_table, query, serialize
from pni_tasks.sizing import item_size, write_units

METADATA_SPEC = TableSpec(
    name="pni-cache-metadata",
    hash_key=KeyAttribute("pk", "S"),
    range_key=KeyAttribute("sk", "S"),
    description="run records, table state and hash manifests of pni-migrate",
    plugin="pni_tasks",
)
MANIFEST_CHUNK_ENTRIES = 6000  # ~45 bytes an entry: ~270 KB, well under the 400 KB item limit


def _to_dynamo(value: Any) -> Any:
    """Floats (seconds, dollars) become Decimal; DynamoDB takes no float."""
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Decimals back to int or float for reports and JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


class MetadataStore:
    """Reads and writes the metadata table of one environment. Units spent here are counted in ``usage``."""

    def __init__(self, client: Any, table_name: str, tags: Mapping[str, str]) -> None:
        self.client = client
        self.table_name = table_name
        self.tags = dict(tags)
        self.usage = ReadUsage()
        self.wru = 0.0
        self._exists: bool | None = None

    # -- table -------------------------------------------------------------------------------

    def exists(self) -> bool:
        if self._exists is None:
            self._exists = describe_table(self.client, self.table_name) is not None
        return self._exists

    def ensure_table(self) -> None:
        if not self.exists():
            create_table(self.client, self.table_name, METADATA_SPEC, self.tags)
            self._exists = True

    def forget(self) -> None:
        self._exists = None

    # -- low level ---------------------------------------------------------------------------

    def _put(self, item: Mapping[str, Any]) -> None:
        clean = _to_dynamo(dict(item))
        self.client.put_item(TableName=self.table_name, Item=serialize(clean))
        self.wru += write_units(item_size(clean))

    def _query(self, pk: str, *, forward: bool = True, limit: int | None = None,
               usage: ReadUsage | None = None) -> list[dict]:
        if not self.exists():
            return []
        return list(query(self.client, self.table_name, usage or self.usage, "pk = :pk", {":pk": pk},
                          forward=forward, limit=limit))

    def _delete(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=serialize({"pk": pk, "sk": sk}))
        self.wru += 1

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, record: Mapping[str, Any]) -> None:
        self.ensure_table()
        self._put({"pk": "run", "sk": run_sort_key(record), "host": socket.gethostname(), "pid": os.getpid(),
                   **record})

    def finish_run(self, record: Mapping[str, Any]) -> None:
        self._put({"pk": "run", "sk": run_sort_key(record), "host": socket.gethostname(), "pid": os.getpid(),
                   **record})

    def last_runs(self, limit: int = 10) -> list[dict]:
        return [from_dynamo(item) for item in self._query("run", forward=False, limit=limit)]

    def mark_stale_runs_interrupted(self, finished_at: str) -> list[dict]:
        """Runs left ``running`` by a process of this host that no longer exists become ``interrupted``."""
        stale = []
        for record in self._query("run", forward=False, limit=50):
            if record.get("status") != "running" or record.get("host") != socket.gethostname():
                continue
            if _process_alive(int(record.get("pid", 0))):
                continue
            record.update(status="interrupted", finished_at=finished_at,
                          error="the process stopped without finishing (killed or crashed)")
            self._put(record)
            stale.append(from_dynamo(record))
        return stale

    # -- table state -------------------------------------------------------------------------

    def put_table_state(self, table: str, state: Mapping[str, Any]) -> None:
        self._put({"pk": f"table#{table}", "sk": "state", **state})


    # -- verify ------------------------------------------------------------------------------

    def record_verify(self, result: Mapping[str, Any]) -> None:
        self.ensure_table()
        self._put({"pk": "verify", "sk": result["finished_at"], **result})

    def last_verify(self) -> dict | None:
        items = self._query("verify", forward=False, limit=1)
        return from_dynamo(items[0]) if items else None

    # -- manifests ---------------------------------------------------------------------------

    def read_manifest(self, table: str, identity: str, usage: ReadUsage | None = None) -> Manifest | None:
        """The key -> hash map of ``table``, or None when missing, partial or from another table incarnation.

        The read units are counted in ``usage`` (the data table's, since they replace reading it).
        """
        chunks = self._query(_manifest_pk(table, identity), usage=usage)
        if not chunks:
            return None
        counts = {int(chunk.get("chunk_count", -1)) for chunk in chunks}
        if len(counts) != 1 or counts.pop() != len(chunks):
            return None
        if any(chunk.get("identity") != identity for chunk in chunks):
            return None
        entries: dict[str, str] = {}
        for chunk in chunks:
            entries.update(chunk.get("entries") or {})
        return Manifest(entries=entries, chunk_count=len(chunks))

    def write_manifest(self, table: str, identity: str, entries: Mapping[str, str],
                       previous: Manifest | None, *, fresh: bool = False) -> int:
        """Store ``entries``, rewriting only the chunks that changed; returns the chunks written.

        With no valid ``previous`` manifest every chunk is written and leftovers of a broken one
        are deleted, unless the table is ``fresh`` (new since the run began: nothing to clean).
        """
        pk = _manifest_pk(table, identity)
        self.ensure_table()
        count = max(1, math.ceil(len(entries) / MANIFEST_CHUNK_ENTRIES))
        new_chunks = _split(entries, count)
        same_layout = previous is not None and previous.chunk_count == count
        old_chunks = _split(previous.entries, count) if same_layout else None
        written = 0
        for index, chunk in enumerate(new_chunks):
            if old_chunks is not None and old_chunks[index] == chunk:
                continue
            self._put({"pk": pk, "sk": f"chunk#{index:05d}", "identity": identity,
                       "chunk_count": count, "entries": chunk})
            written += 1
        if previous is not None:
            stale = range(count, previous.chunk_count)
        elif written and not fresh:
            stale = [int(item["sk"].split("#")[1]) for item in self._query(pk)]
        else:
            stale = []
        for index in stale:
            if index >= count:
                self._delete(pk, f"chunk#{index:05d}")
        return written


def _manifest_pk(table: str, identity: str) -> str:
    digest = hashlib.md5(identity.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]
    return f"manifest#{table}#{digest}"


@dataclass
class Manifest:
    entries: dict[str, str]
    chunk_count: int


def _split(entries: Mapping[str, str], count: int) -> list[dict[str, str]]:
    chunks: list[dict[str, str]] = [{} for _ in range(count)]
    for key, digest in entries.items():
        chunks[zlib.crc32(key.encode("utf-8")) % count][key] = digest
    return chunks


def run_sort_key(record: Mapping[str, Any]) -> str:
    return f"{record['started_at']}#{record['run_id']}"


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


