"""DynamoDB: the client, tables and their waiters, batched concurrent writes with backoff, scans.

Everything here follows DynamoDB's own rules even where moto would let us off: tables are used
only once ACTIVE (boto3 waiters), a BatchWriteItem holds at most 25 requests and 16 MB with no
key twice, ``UnprocessedItems`` and throttling are retried with exponential backoff and full
jitter until a deadline, and what still fails is reported key by key, never dropped.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from pni_tasks.config import EnvSettings
from pni_tasks.errors import TargetError
from pni_tasks.model import Key, TableSpec, key_text
from pni_tasks.sizing import item_size, read_units

MAX_BATCH_ITEMS = 25
MAX_BATCH_BYTES = 16 * 1024 * 1024
RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "LimitExceededException",
})
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 5.0

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """``item`` in DynamoDB's wire format: exactly what boto3's TypeSerializer gives, several times faster."""
    return {name: _attribute_value(value) for name, value in item.items()}


_PLAIN_INT = 10**38  # below this, an int's text is what TypeSerializer's 38-digit context gives


def _attribute_value(value: Any) -> dict[str, Any]:
    # TypeSerializer tries up to eight type tests and a getattr for each value; the common exact
    # types go straight through here, everything else (and every error) is left to it.
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:
        return {"M": {name: _attribute_value(element) for name, element in value.items()}}
    if kind is list:
        return {"L": [_attribute_value(element) for element in value]}
    if kind is int and -_PLAIN_INT < value < _PLAIN_INT:
        return {"N": str(value)}
    return _serializer.serialize(value)


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


# -------------------------------------------------------------------------------------------------
# Client and request accounting
# -------------------------------------------------------------------------------------------------


class RequestCounter:
    """Counts the HTTP requests a client really sends, by operation (retries included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.dynamodb", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.by_operation[operation] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.by_operation)


def boto_session(env: EnvSettings) -> boto3.session.Session:
    """boto3's own credential chain; a local-stack env falls back to dummy keys (moto accepts any)."""
    session = boto3.session.Session(region_name=env.region)
    if env.local_stack and session.get_credentials() is None:
        session = boto3.session.Session(region_name=env.region, aws_access_key_id="local",
                                        aws_secret_access_key="local")
    return session


def client_config(env: EnvSettings) -> botocore.config.Config:
    # "standard" mode: full-jitter backoff with bounded attempts; our own loop handles what it gives up on.
    # pni.max_attempts counts attempts, as AWS_MAX_ATTEMPTS does; botocore's client-config key
    # "max_attempts" would count retries (one attempt more), "total_max_attempts" counts attempts.
    return botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": env.max_attempts},
        max_pool_connections=env.writers + 4,
        connect_timeout=env.connect_timeout,
        read_timeout=max(30.0, env.connect_timeout),
        tcp_keepalive=True,
        # Our requests are built by serialize(): botocore re-checking every attribute value of every
        # batch cost more client CPU than the serializing itself (inv bench); the server still validates.
        parameter_validation=False,
    )


def dynamodb_client(env: EnvSettings, counter: RequestCounter | None = None) -> Any:
    """A DynamoDB client for ``env``: its region, its endpoint (config, else boto3's env vars), retries."""
    client = boto_session(env).client("dynamodb", endpoint_url=env.endpoint_url, config=client_config(env))
    if counter is not None:
        counter.attach(client)
    return client


def describe_failure(exc: Exception, what: str, env: EnvSettings) -> TargetError:
    """One line for a DynamoDB error, naming the env, region and endpoint."""
    where = f"env {env.name!r}, region {env.region}, endpoint {env.endpoint_url or 'AWS'}"
    if isinstance(exc, NoCredentialsError):
        return TargetError(f"{what}: no AWS credentials found ({where}): configure a profile, AWS_PROFILE or keys")
    if isinstance(exc, EndpointConnectionError):
        return TargetError(f"{what}: DynamoDB endpoint unreachable ({where}): check the endpoint and network")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return TargetError(f"{what}: {error.get('Code')}: {error.get('Message')} ({where})")
    return TargetError(f"{what}: {type(exc).__name__}: {exc} ({where})")


# -------------------------------------------------------------------------------------------------
# Tables
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableInfo:
    name: str
    status: str
    item_count: int
    size_bytes: int
    identity: str  # TableId where the server returns one, else creation time: changes when recreated
    tags: Mapping[str, str] = field(default_factory=dict)


def describe_table(client: Any, name: str) -> TableInfo | None:
    try:
        table = client.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    identity = table.get("TableId") or f"{table['TableArn']}@{table['CreationDateTime'].timestamp():.6f}"
    return TableInfo(name=name, status=table["TableStatus"], item_count=table.get("ItemCount", 0),
                     size_bytes=table.get("TableSizeBytes", 0), identity=identity)


def _attribute_definitions(spec: TableSpec) -> list[dict[str, str]]:
    attributes = {spec.hash_key.name: spec.hash_key.type}
    if spec.range_key:
        attributes[spec.range_key.name] = spec.range_key.type
    for index in spec.indexes:
        attributes[index.hash_key.name] = index.hash_key.type
        if index.range_key:
            attributes[index.range_key.name] = index.range_key.type
    return [{"AttributeName": name, "AttributeType": kind} for name, kind in attributes.items()]


def _key_schema(hash_key: Any, range_key: Any) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return schema


def create_table(client: Any, name: str, spec: TableSpec, tags: Mapping[str, str]) -> None:
    """Create an on-demand table with the spec's keys and indexes, and wait until it is ACTIVE."""
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": _key_schema(spec.hash_key, spec.range_key),
        "AttributeDefinitions": _attribute_definitions(spec),
        "BillingMode": "PAY_PER_REQUEST",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": index.name, "KeySchema": _key_schema(index.hash_key, index.range_key),
             "Projection": {"ProjectionType": "ALL"}}
            for index in spec.indexes
        ]
    try:
        client.create_table(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    _wait_indexes_active(client, name)


def _wait_indexes_active(client: Any, name: str, timeout: float = 600) -> None:
    # The table_exists waiter only looks at the table; a GSI backfills on its own schedule.
    deadline = time.monotonic() + timeout
    while True:
        table = client.describe_table(TableName=name)["Table"]
        statuses = [gsi.get("IndexStatus", "ACTIVE") for gsi in table.get("GlobalSecondaryIndexes", [])]
        if all(status == "ACTIVE" for status in statuses) or time.monotonic() > deadline:
            return
        time.sleep(2)


def delete_table(client: Any, name: str) -> bool:
    """Delete a table and wait until it is gone; False if it did not exist."""
    try:
        client.delete_table(TableName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    return True


# -------------------------------------------------------------------------------------------------
# Reading
# -------------------------------------------------------------------------------------------------


@dataclass
class ReadUsage:
    rru: float = 0.0
    server_rru: float = 0.0
    server_reported: bool = False

    def add_page(self, items: Sequence[Mapping[str, Any]], consumed: Mapping[str, Any] | None) -> None:
        # A Scan/Query page is charged on the total size it read, rounded up to 4 KB once per page.
        page_bytes = sum(item_size(item) for item in items)
        self.rru += read_units(page_bytes) if items else 0.5
        if consumed and "CapacityUnits" in consumed:
            self.server_rru += float(consumed["CapacityUnits"])
            self.server_reported = True


def scan(client: Any, name: str, usage: ReadUsage) -> Iterator[dict]:
    """Every item of a table, deserialized. Pages are as large as the server gives (moto re-sorts per page)."""
    request: dict[str, Any] = {"TableName": name, "ReturnConsumedCapacity": "TOTAL"}
    while True:
        page = client.scan(**request)
        items = [deserialize(raw) for raw in page.get("Items", [])]
        usage.add_page(items, page.get("ConsumedCapacity"))
        yield from items
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def query(client: Any, name: str, usage: ReadUsage, key_condition: str, values: Mapping[str, Any],
          names: Mapping[str, str] | None = None, *, forward: bool = True, limit: int | None = None) -> Iterator[dict]:
    request: dict[str, Any] = {
        "TableName": name, "KeyConditionExpression": key_condition, "ReturnConsumedCapacity": "TOTAL",
        "ExpressionAttributeValues": serialize(values), "ScanIndexForward": forward,
    }
    if names:
        request["ExpressionAttributeNames"] = dict(names)
    if limit:
        request["Limit"] = limit
    returned = 0
    while True:
        page = client.query(**request)
        items = [deserialize(raw) for raw in page.get("Items", [])]
        usage.add_page(items, page.get("ConsumedCapacity"))
        for item in items:
            yield item
            returned += 1
            if limit and returned >= limit:
                return
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -------------------------------------------------------------------------------------------------
# Writing
# -------------------------------------------------------------------------------------------------


@dataclass
class WriteRequest:
    """One put (``item`` set) or delete (``item`` None) of ``key``; ``tag`` travels back with the result."""

    key: Key
    key_item: dict[str, Any]
    item: dict[str, Any] | None = None
    size: int = 0
    tag: Any = None

    def as_request(self) -> dict[str, Any]:
        if self.item is not None:
            return {"PutRequest": {"Item": serialize(self.item)}}
        return {"DeleteRequest": {"Key": serialize(self.key_item)}}


@dataclass
class WriteOutcome:
    """The fate of one batch: which requests were written, which failed and why, units consumed."""

    written: list[WriteRequest] = field(default_factory=list)
    failed: list[tuple[WriteRequest, str]] = field(default_factory=list)
    server_wru: float = 0.0
    server_reported: bool = False
    retries: int = 0


class BatchWriter:
    """Writes put/delete requests to one table in batches of <= 25 items and <= 16 MB, with
    ``writers`` concurrent BatchWriteItem calls sharing one (thread-safe) client.

    ``on_outcome`` is called from the caller's thread (in ``add`` and ``close``) with each
    finished batch's outcome, so statistics need no locks. At most ``2 x writers`` batches are in
    flight: memory stays bounded and the reader is slowed down when DynamoDB is.
    """

    def __init__(self, client: Any, table_name: str, key_names: Sequence[str], *, writers: int,
                 deadline_seconds: float, on_outcome: Callable[[WriteOutcome], None],
                 stop: threading.Event | None = None) -> None:
        self.client = client
        self.table_name = table_name
        self.key_names = tuple(key_names)
        self.deadline_seconds = deadline_seconds
        self.on_outcome = on_outcome
        self.stop = stop or threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix=f"write-{table_name}")
        self._max_in_flight = 2 * writers
        self._in_flight: set[Future] = set()
        self._batch: list[WriteRequest] = []
        self._batch_bytes = 0
        self._batch_keys: set[str] = set()

    def add(self, request: WriteRequest) -> None:
        key = key_text(request.key)
        if key in self._batch_keys or len(self._batch) == MAX_BATCH_ITEMS or \
                self._batch_bytes + request.size + 1024 > MAX_BATCH_BYTES:
            self._submit()
        self._batch.append(request)
        self._batch_keys.add(key)
        self._batch_bytes += request.size + 1024

    def _submit(self) -> None:
        if not self._batch:
            return
        while len(self._in_flight) >= self._max_in_flight:
            self._collect(block=True)
        self._in_flight.add(self._pool.submit(self._write_batch, self._batch))
        self._batch, self._batch_bytes, self._batch_keys = [], 0, set()
        self._collect(block=False)

    def _collect(self, *, block: bool) -> None:
        if not self._in_flight:
            return
        done, _ = wait(self._in_flight, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            self._in_flight.discard(future)
            self.on_outcome(future.result())

    def close(self) -> None:
        """Send what is left, wait for every batch, and hand over their outcomes."""
        try:
            self._submit()
            while self._in_flight:
                self._collect(block=True)
        finally:
            self._pool.shutdown(wait=True)

    def _write_batch(self, batch: list[WriteRequest]) -> WriteOutcome:
        outcome = WriteOutcome()
        pending = {key_text(r.key): r for r in batch}
        deadline = time.monotonic() + self.deadline_seconds
        attempt = 0
        last_error = ""
        while pending:
            if attempt and (time.monotonic() >= deadline or self.stop.is_set()):
                reason = "stopped before it was written" if self.stop.is_set() else (
                    f"not written after {attempt} attempts in {self.deadline_seconds:g}s: {last_error}")
                outcome.failed.extend((r, reason) for r in pending.values())
                return outcome
            if attempt:
                outcome.retries += 1
                _sleep_full_jitter(attempt, deadline)
            attempt += 1
            requests = [r.as_request() for r in pending.values()]
            try:
                response = self.client.batch_write_item(
                    RequestItems={self.table_name: requests}, ReturnConsumedCapacity="TOTAL")
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                last_error = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
                if code in RETRYABLE_CODES or status >= 500:
                    continue
                outcome.failed.extend((r, last_error) for r in pending.values())
                return outcome
            except BotoCoreError as exc:  # connection reset, read timeout: the batch may or may not be in
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            for consumed in response.get("ConsumedCapacity") or []:
                outcome.server_wru += float(consumed.get("CapacityUnits", 0))
                outcome.server_reported = True
            unprocessed = response.get("UnprocessedItems", {}).get(self.table_name, [])
            left = {_unprocessed_key_text(raw, self.key_names) for raw in unprocessed}
            for text in list(pending):
                if text not in left:
                    outcome.written.append(pending.pop(text))
            if pending:
                last_error = f"{len(pending)} item(s) left unprocessed by the server"
        return outcome


def _unprocessed_key_text(raw: Mapping[str, Any], key_names: Sequence[str]) -> str:
    # Match an UnprocessedItems entry back to our request by the key values it carries.
    body = raw.get("PutRequest", {}).get("Item") or raw.get("DeleteRequest", {}).get("Key")
    return key_text(tuple(_deserializer.deserialize(body[name]) for name in key_names))


def _sleep_full_jitter(attempt: int, deadline: float) -> None:
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** attempt))
    time.sleep(max(0.0, min(random.uniform(0, ceiling), deadline - time.monotonic())))
