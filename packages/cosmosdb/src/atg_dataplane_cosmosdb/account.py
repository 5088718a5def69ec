"""One Cosmos DB account on one side: ARM for its structure, azure-cosmos for its documents.

Structure (databases, containers, throughput, scripts) goes through ARM on both sides:
Azure refuses those writes on the data plane with Entra ID tokens. Documents go through the
data plane with the side's Entra ID credential (the account's native RBAC: Cosmos DB
Built-in Data Reader on the source, Data Contributor on the target), or with the account's
keys when the config asks (``cosmosdb.use_keys``: read-only keys on the source). Keys stay
in memory for the run.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import certifi
from atg_dataplane import ItemError, ResourceBinding
from azure.cosmos import CosmosClient
from azure.cosmos.documents import SSLConfiguration
from azure.mgmt.cosmosdb import CosmosDBManagementClient

_CACHE_KEY = "cosmosdb.account"
RETRY_WRITES = 3
"""Writes the SDK sends again after a dropped connection: every write here is an upsert."""


class Account:
    """ARM at once; the data-plane client on first use (template runs never need it, nor
    the data role it takes)."""

    def __init__(self, binding: ResourceBinding, arm: CosmosDBManagementClient, use_keys: bool):
        self.binding = binding
        self.arm = arm
        self._use_keys = use_keys
        self._data: CosmosClient | None = None
        self._lock = threading.Lock()

    @property
    def group(self) -> str:
        return self.binding.resource.resource_group

    @property
    def name(self) -> str:
        return self.binding.resource.name

    @property
    def sql(self) -> Any:
        """ARM's ``sql_resources`` operations (pass group and account name)."""
        return self.arm.sql_resources

    @property
    def data(self) -> CosmosClient:
        with self._lock:
            if self._data is None:
                self._data = _data_client(self)
            return self._data

    def container(self, database: str, container: str) -> Any:
        return self.data.get_database_client(database).get_container_client(container)


def account(binding: ResourceBinding, use_keys: bool = False) -> Account:
    """The account's clients, built once per binding and run."""
    key = f"{_CACHE_KEY}:{'keys' if use_keys else 'entra'}"
    found: Account = binding.cached(key, lambda: _build(binding, use_keys))
    return found


def _build(binding: ResourceBinding, use_keys: bool) -> Account:
    context = binding.context
    subscription = binding.resource.subscription_id
    arm = context.cached_client(
        f"cosmosdb.mgmt:{subscription}",
        lambda: CosmosDBManagementClient(context.credential, subscription, **context.arm_kwargs()),
    )
    return Account(binding, arm, use_keys)


def _data_client(acc: Account) -> CosmosClient:
    binding = acc.binding
    endpoint = binding.resource.properties.get("documentEndpoint")
    if not endpoint:
        endpoint = acc.arm.database_accounts.get(acc.group, acc.name).document_endpoint
    if not endpoint:
        raise ItemError(
            f"account {acc.name} has no documentEndpoint",
            remedy="check that it exists and is a NoSQL (GlobalDocumentDB) account",
        )
    credential: Any = _key(acc) if acc._use_keys else binding.context.credential
    client = CosmosClient(
        str(endpoint),
        credential=credential,
        ssl_config=_ssl(binding),
        transport=binding.context.transport(),
        retry_write=RETRY_WRITES,
    )
    connection = client.client_connection
    connection.__class__ = _per_thread_headers(type(connection))
    return client


class _PerThread:
    """``last_response_headers`` of one client connection, kept per thread.

    azure-cosmos keeps the last answer's headers on the client connection every thread of
    a run shares, and writes into that dict after each call (the throttle counts, in
    ``_retry_utility``). A thread reading the headers it just stored (a query capturing
    them for its continuation) found another thread's write in them mid-iteration:
    ``RuntimeError: dictionary changed size during iteration``, which failed a container,
    or a whole account's discovery, now and then under load. Per thread, each call sees
    its own answer's headers, as it would on a client of its own.
    """

    def __get__(self, connection: Any, owner: Any = None) -> Any:
        if connection is None:
            return self
        local = _local(connection)
        if not hasattr(local, "headers"):
            local.headers = {}
        return local.headers

    def __set__(self, connection: Any, headers: Any) -> None:
        _local(connection).headers = headers


def _local(connection: Any) -> threading.local:
    found: threading.local | None = connection.__dict__.get("_atg_per_thread")
    if found is None:
        found = connection.__dict__.setdefault("_atg_per_thread", threading.local())
    return found


@functools.cache
def _per_thread_headers(cls: type) -> type:
    """``cls`` with :class:`_PerThread` headers (made once per SDK class)."""
    return type(cls.__name__, (cls,), {"last_response_headers": _PerThread()})


def _ssl(binding: ResourceBinding) -> SSLConfiguration:
    # azure-cosmos turns TLS verification off for 127.0.0.1 unless a CA is named: always name
    # one (the cloud's bundle, else the public roots), so verification stays on everywhere.
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = binding.context.cloud.ca_bundle or certifi.where()
    return ssl


def _key(acc: Account) -> str:
    """A read-only key on the source, a read-write key on the target (ARM ``listKeys``)."""
    accounts = acc.arm.database_accounts
    if acc.binding.side == "source":
        return str(accounts.list_read_only_keys(acc.group, acc.name).primary_readonly_master_key)
    return str(accounts.list_keys(acc.group, acc.name).primary_master_key)
