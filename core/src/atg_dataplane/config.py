"""The replication config file: where resources come from and go to.

JSON, TOML or YAML (by extension). Secrets are never required inline: a
credential names an environment variable (``client_secret_env``) or a file
(``client_secret_file``). See ``docs/config.md`` for an example.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from atg_dataplane.clouds import Cloud, resolve_cloud
from atg_dataplane.retry import RetrySettings


class ConfigError(ValueError):
    """A problem with the config, worded as one line naming the fix."""


@dataclass(frozen=True)
class CredentialConfig:
    client_id: str = ""
    tenant_id: str = ""
    client_secret_env: str = ""
    client_secret_file: str = ""
    client_secret: str = field(default="", repr=False)
    """Only from the command line's deprecated flag; never printed."""

    @property
    def explicit(self) -> bool:
        return bool(
            self.client_id
            and (self.client_secret_env or self.client_secret_file or self.client_secret)
        )

    def read_secret(self) -> str:
        if self.client_secret:
            return self.client_secret
        if self.client_secret_env:
            value = os.environ.get(self.client_secret_env)
            if not value:
                raise ConfigError(
                    f"environment variable {self.client_secret_env} (client_secret_env) "
                    "is not set: export it or use client_secret_file"
                )
            return value
        path = Path(self.client_secret_file)
        try:
            value = path.read_text(encoding="utf-8-sig").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read client_secret_file {str(path)!r}: {exc.strerror}; "
                "fix the path or use client_secret_env"
            ) from None
        if not value:
            raise ConfigError(
                f"the client secret file {str(path)!r} is empty: put the principal's secret in "
                "it, or use client_secret_env"
            )
        return value


@dataclass(frozen=True)
class SideConfig:
    name: str
    cloud: Cloud
    tenant_id: str
    subscription_id: str
    resource_groups: tuple[str, ...] = ()
    resource_group: str = ""
    """Target only: where counterparts live when not in the same-named group."""
    credential: CredentialConfig = field(default_factory=CredentialConfig)


@dataclass(frozen=True)
class ReplicationConfig:
    source: SideConfig
    target: SideConfig
    names: Mapping[str, str] = field(default_factory=dict)
    types: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    inventory: str = ""
    """Optional JSON inventory path (az resource list / ATG export) or a neo4j:// URI."""
    target_ids: Mapping[str, str] = field(default_factory=dict)
    """Known target resource ids by ``type/name`` (lower case), e.g. from Terraform state."""
    retry: RetrySettings = field(default_factory=RetrySettings)
    """How hard and how long requests and items are tried (``[retry]``)."""
    path: Path | None = None

    def target_name(self, source_name: str) -> str:
        return self.names.get(source_name, source_name)


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a JSON, TOML or YAML file into a dict, with one-line errors."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark is not content
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        line = getattr(exc, "lineno", None) or getattr(
            getattr(exc, "problem_mark", None), "line", None
        )
        where = f" (line {line})" if line else ""
        raise ConfigError(
            f"config file {str(path)!r} is not valid {suffix.lstrip('.') or 'json'}{where}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data


def _side(name: str, raw: Any, clouds: Mapping[str, Any], base: Path) -> SideConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config lacks a [{name}] section with tenant_id and subscription_id")
    for key in ("tenant_id", "subscription_id"):
        if not raw.get(key):
            raise ConfigError(f"config [{name}] lacks {key}")
    for key in ("tenant_id", "subscription_id", "cloud", "resource_group"):
        _string(raw, key, name)
    cred = _table(raw, "credential", f"{name}.")
    for key in cred:
        _string(cred, key, f"{name}.credential")
    secret_file = cred.get("client_secret_file", "")
    if secret_file and not Path(secret_file).expanduser().is_absolute():
        secret_file = str(base / secret_file)
    try:
        cloud = resolve_cloud(raw.get("cloud"), clouds, base)
    except ValueError as exc:
        raise ConfigError(f"config [{name}]: {exc}") from None
    groups = _strings(raw.get("resource_groups") or (), f"{name}.resource_groups")
    return SideConfig(
        name=name,
        cloud=cloud,
        tenant_id=str(raw["tenant_id"]),
        subscription_id=str(raw["subscription_id"]),
        resource_groups=tuple(groups),
        resource_group=str(raw.get("resource_group") or ""),
        credential=CredentialConfig(
            client_id=str(cred.get("client_id", "")),
            tenant_id=str(cred.get("tenant_id") or raw["tenant_id"]),
            client_secret_env=str(cred.get("client_secret_env", "")),
            client_secret_file=secret_file,
        ),
    )


def _string(data: Mapping[str, Any], key: str, where: str) -> None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"config {where}.{key} must be a string, not {value!r}")


def _table(data: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"config [{where}{key}] must be a table of keys and values")
    return dict(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings; a single string counts as a list of one."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"config {where} must be a list of strings")
    return tuple(value)


SIDE_KEYS = {"cloud", "tenant_id", "subscription_id", "credential"}
SCHEMA: dict[str, frozenset[str]] = {
    "": frozenset(
        {"source", "target", "mapping", "filters", "options", "clouds", "inventory", "retry"}
    ),
    "source": frozenset(SIDE_KEYS | {"resource_groups"}),
    "target": frozenset(SIDE_KEYS | {"resource_group"}),
    "source.credential": frozenset(
        {"client_id", "tenant_id", "client_secret_env", "client_secret_file"}
    ),
    "mapping": frozenset({"names"}),
    "filters": frozenset({"types"}),
    "clouds.*": frozenset(
        {"authority_host", "resource_manager", "arm_scope", "ca_bundle", "based_on", "suffixes"}
    ),
}
SCHEMA["target.credential"] = SCHEMA["source.credential"]
"""The keys each table of the config may hold (``*``: any name). A key that is not here is
an error naming it and the nearest valid one: a typo must never widen the scope (an
unknown ``resource_group`` in ``[source]`` would copy the whole subscription)."""


def check_keys(data: Mapping[str, Any], where: str, allowed: Iterable[str]) -> None:
    """Raise a one-line :class:`ConfigError` for the first key of ``data`` not in
    ``allowed``, with the nearest valid key when one is close."""
    allowed = sorted(allowed)
    for key in data:
        if key in allowed:
            continue
        place = f"in [{where}]" if where else "at the top level"
        if key == "client_secret" and where.endswith("credential"):
            raise ConfigError(
                f"config [{where}] holds a literal client_secret: move it to a file "
                "(client_secret_file) or an environment variable (client_secret_env)"
            )
        near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(allowed)}"
        raise ConfigError(f"config: unknown key {str(key)!r} {place}{hint}")


def _check_schema(data: Mapping[str, Any]) -> None:
    check_keys(data, "", SCHEMA[""])
    for table, allowed in SCHEMA.items():
        if not table:
            continue
        parent, _, child = table.partition(".")
        section = data.get(parent)
        if not isinstance(section, Mapping):
            continue  # absent, or of the wrong type: reported where it is read
        if child == "*":
            entries = [(f"{parent}.{k}", v) for k, v in section.items()]
        elif child:
            entries = [(table, section.get(child))]
        else:
            entries = [(table, section)]
        for where, value in entries:
            if isinstance(value, Mapping):
                check_keys(value, where, allowed)


def load_config(path: Path | str) -> ReplicationConfig:
    path = Path(path)
    data = read_mapping(path)
    _check_schema(data)
    base = path.resolve().parent
    clouds = _table(data, "clouds")
    names = _table(_table(data, "mapping"), "names", "mapping.")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise ConfigError("config [mapping.names] must map source names to target names")
    types = _strings(_table(data, "filters").get("types") or (), "filters.types")
    inventory = data.get("inventory") or ""
    if not isinstance(inventory, str):
        raise ConfigError("config inventory must be a file path or a neo4j:// URI")
    if inventory and "://" not in inventory and not Path(inventory).is_absolute():
        inventory = str(base / inventory)
    return ReplicationConfig(
        source=_side("source", data.get("source"), clouds, base),
        target=_side("target", data.get("target"), clouds, base),
        names=names,
        types=types,
        options=_table(data, "options"),
        inventory=inventory,
        retry=_retry(_table(data, "retry")),
        path=path.resolve(),
    )


RETRY_KEYS = {
    "request_attempts": "total",
    "request_seconds": "request_seconds",
    "item_attempts": "item_attempts",
    "item_seconds": "item_seconds",
    "connect_timeout": "connect_timeout",
    "read_timeout": "read_timeout",
    "backoff_max": "backoff_max",
    "stop_grace_seconds": "stop_grace_seconds",
}
"""``[retry]`` keys and the :class:`RetrySettings` field each sets."""


def _retry(raw: Mapping[str, Any]) -> RetrySettings:
    check_keys(raw, "retry", RETRY_KEYS)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        counted = key.endswith("attempts")
        if isinstance(value, bool) or not isinstance(value, int if counted else int | float):
            kind = "a whole number" if counted else "a number of seconds"
            raise ConfigError(f"config [retry] {key} must be {kind}, not {value!r}")
        values[RETRY_KEYS[key]] = value
    try:
        return RetrySettings(**values)
    except ValueError as exc:
        raise ConfigError(f"config [retry]: {exc}") from None


def with_overrides(
    config: ReplicationConfig,
    *,
    types: tuple[str, ...] = (),
    source_groups: tuple[str, ...] = (),
    target_group: str = "",
    target_tenant: str = "",
    target_credential: CredentialConfig | None = None,
    inventory: str = "",
    options: Mapping[str, Any] | None = None,
) -> ReplicationConfig:
    """Command-line options override the file."""
    source, target = config.source, config.target
    if source_groups:
        source = replace(source, resource_groups=source_groups)
    if target_group:
        target = replace(target, resource_group=target_group)
    if target_tenant:
        target = replace(
            target,
            tenant_id=target_tenant,
            credential=replace(target.credential, tenant_id=target_tenant),
        )
    if target_credential is not None:
        target = replace(target, credential=target_credential)
    return replace(
        config,
        source=source,
        target=target,
        types=types or config.types,
        inventory=inventory or config.inventory,
        options={**config.options, **(options or {})},
    )
