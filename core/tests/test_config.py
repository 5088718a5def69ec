from __future__ import annotations

import json
from pathlib import Path

import pytest
from atg_dataplane.config import ConfigError, load_config, with_overrides

BASE = {
    "source": {
        "tenant_id": "t-src",
        "subscription_id": "s-src",
        "resource_groups": ["rg1"],
        "credential": {"client_id": "c1", "client_secret_file": "secret.txt"},
    },
    "target": {
        "tenant_id": "t-dst",
        "subscription_id": "s-dst",
        "resource_group": "rg2",
        "credential": {"client_id": "c2", "client_secret_env": "TARGET_SECRET"},
    },
    "mapping": {"names": {"a": "b"}},
    "filters": {"types": ["Microsoft.KeyVault/vaults"]},
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_toml_and_yaml_load_the_same(tmp_path: Path) -> None:
    import yaml

    toml = """
[source]
tenant_id = "t-src"
subscription_id = "s-src"
resource_groups = ["rg1"]
[source.credential]
client_id = "c1"
client_secret_file = "secret.txt"
[target]
tenant_id = "t-dst"
subscription_id = "s-dst"
resource_group = "rg2"
[target.credential]
client_id = "c2"
client_secret_env = "TARGET_SECRET"
[mapping.names]
a = "b"
[filters]
types = ["Microsoft.KeyVault/vaults"]
"""
    configs = [
        load_config(_write(tmp_path, "c.json", json.dumps(BASE))),
        load_config(_write(tmp_path, "c.toml", toml)),
        load_config(_write(tmp_path, "c.yaml", yaml.safe_dump(BASE))),
    ]
    for config in configs:
        assert config.source.resource_groups == ("rg1",)
        assert config.target.resource_group == "rg2"
        assert config.target_name("a") == "b" and config.target_name("z") == "z"
        assert config.source.credential.client_secret_file == str(tmp_path / "secret.txt")
        assert config.source.cloud.name == "AzurePublicCloud"


def test_secret_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret.txt").write_text("s3cret\n")
    config = load_config(_write(tmp_path, "c.json", json.dumps(BASE)))
    assert config.source.credential.read_secret() == "s3cret"
    monkeypatch.delenv("TARGET_SECRET", raising=False)
    with pytest.raises(ConfigError, match="TARGET_SECRET"):
        config.target.credential.read_secret()
    monkeypatch.setenv("TARGET_SECRET", "x")
    assert config.target.credential.read_secret() == "x"


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("{not json", ".json", "not valid json"),
        ("a = [", ".toml", "not valid toml"),
        ("[1, 2]", ".json", "mapping at the top level"),
        (json.dumps({"target": BASE["target"]}), ".json", r"lacks a \[source\] section"),
        (
            json.dumps({**BASE, "source": {**BASE["source"], "cloud": "Mars"}}),
            ".json",
            "unknown cloud 'Mars'",
        ),
        (
            json.dumps(
                {
                    **BASE,
                    "source": {
                        **BASE["source"],
                        "credential": {"client_id": "c", "client_secret": "literal"},
                    },
                }
            ),
            ".json",
            "literal client_secret",
        ),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, suffix: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(_write(tmp_path, "bad" + suffix, text))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_custom_cloud_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    data = {
        **BASE,
        "clouds": {
            "lab": {
                "authority_host": "https://127.0.0.1:1",
                "resource_manager": "https://127.0.0.1:2",
                "ca_bundle": "ca.pem",
            }
        },
    }
    data["source"] = {**BASE["source"], "cloud": "lab"}
    config = load_config(_write(tmp_path, "c.json", json.dumps(data)))
    assert config.source.cloud.ca_bundle == str(tmp_path / "ca.pem")
    assert config.source.cloud.arm_scope == "https://127.0.0.1:2/.default"
    changed = with_overrides(
        config, types=("X/y",), target_group="other", target_tenant="t9", options={"k": 1}
    )
    assert changed.types == ("X/y",)
    assert changed.target.resource_group == "other"
    assert changed.target.tenant_id == "t9" and changed.target.credential.tenant_id == "t9"
    assert changed.options == {"k": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mapping": ["a"]}, r"\[mapping\] must be a table"),
        ({"mapping": {"names": {"a": 1}}}, "map source names to target names"),
        ({"inventory": 5}, "inventory must be a file path"),
        ({"options": ["x"]}, r"\[options\] must be a table"),
        ({"filters": {"types": [1]}}, "filters.types must be a list of strings"),
        ({"source": {**BASE["source"], "credential": "sp"}}, r"\[source.credential\] must be"),
    ],
)
def test_wrongly_shaped_sections_are_one_clear_line(
    tmp_path: Path, change: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, "c.json", json.dumps({**BASE, **change})))


def test_a_single_type_may_be_a_string(tmp_path: Path) -> None:
    data = {**BASE, "filters": {"types": "Microsoft.KeyVault/vaults"}}
    assert load_config(_write(tmp_path, "c.json", json.dumps(data))).types == (
        "Microsoft.KeyVault/vaults",
    )


def test_retry_section_sets_the_bounds(tmp_path: Path) -> None:
    from atg_dataplane.retry import RetrySettings

    data = {
        **BASE,
        "retry": {
            "request_attempts": 3,
            "item_attempts": 2,
            "read_timeout": 5.5,
            "stop_grace_seconds": 2,
        },
    }
    config = load_config(_write(tmp_path, "c.json", json.dumps(data)))
    assert config.retry == RetrySettings(
        total=3, item_attempts=2, read_timeout=5.5, stop_grace_seconds=2
    )
    assert load_config(_write(tmp_path, "d.json", json.dumps(BASE))).retry == RetrySettings()
    # Command-line overrides keep it.
    assert with_overrides(config, types=("X/y",)).retry == config.retry


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        ({"tries": 3}, "unknown key 'tries' in [retry]"),
        ({"item_attempts": 1.5}, "item_attempts must be a whole number"),
        ({"read_timeout": "60s"}, "read_timeout must be a number of seconds"),
        ({"read_timeout": True}, "read_timeout must be a number of seconds"),
        ({"item_attempts": 0}, ">= 1"),
        ({"connect_timeout": 0}, "connect_timeout must be > 0"),
        ({"retry_gap": 1, "zzz": 2}, "unknown key 'retry_gap'"),
    ],
)
def test_bad_retry_settings_are_one_clear_line(
    tmp_path: Path, retry: dict[str, object], expected: str
) -> None:
    path = _write(tmp_path, "c.json", json.dumps({**BASE, "retry": retry}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(mappings={}),
            "unknown key 'mappings' at the top level; did you mean 'mapping'?",
        ),
        (
            lambda d: d["source"].update(resource_group="x"),
            "in [source]; did you mean 'resource_groups'?",
        ),
        (
            lambda d: d["target"].update(resource_groups=["x"]),
            "in [target]; did you mean 'resource_group'?",
        ),
        (lambda d: d["filters"].update(type=["x"]), "in [filters]; did you mean 'types'?"),
        (lambda d: d["mapping"].update(name={}), "in [mapping]; did you mean 'names'?"),
        (
            lambda d: d["source"]["credential"].update(clientid="x"),
            "in [source.credential]; did you mean 'client_id'?",
        ),
        (
            lambda d: d.update(clouds={"lab": {"authority": "x"}}),
            "in [clouds.lab]; did you mean 'authority_host'?",
        ),
        (lambda d: d.update(zebra=1), "unknown key 'zebra' at the top level; known:"),
        (lambda d: d["source"].update(tenant_id=42), "source.tenant_id must be a string"),
        (
            lambda d: d["target"].update(resource_group=["a"]),
            "target.resource_group must be a string",
        ),
        (
            lambda d: d["source"]["credential"].update(client_id=7),
            "source.credential.client_id must be a string",
        ),
        (
            lambda d: d["source"].update(resource_groups=5),
            "source.resource_groups must be a list of strings",
        ),
        (
            lambda d: d["target"]["credential"].update(client_secret="s3cret"),
            "holds a literal client_secret",
        ),
    ],
)
def test_a_config_means_what_it_says(tmp_path: Path, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(BASE))
    change(data)
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "c.json", json.dumps(data)))
    message = str(caught.value)
    assert expected in message and "\n" not in message and "s3cret" not in message


def test_a_byte_order_mark_is_not_content(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(BASE).encode())
    assert load_config(path).source.tenant_id == "t-src"
    toml = tmp_path / "bom.toml"
    toml.write_bytes(
        b"\xef\xbb\xbf" + b'[source]\ntenant_id = "a"\nsubscription_id = "b"\n'
        b'[target]\ntenant_id = "c"\nsubscription_id = "d"\n'
    )
    assert load_config(toml).target.tenant_id == "c"


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    from atg_dataplane.config import CredentialConfig

    empty = tmp_path / "secret"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        CredentialConfig(client_id="c", client_secret_file=str(empty)).read_secret()
