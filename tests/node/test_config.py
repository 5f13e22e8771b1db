"""Config: file, environment overrides, ${VAR} expansion, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.config import ConfigError, cluster_config, load_settings, store_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "at.yaml"
    path.write_text(text)
    return path


def test_defaults_are_sqlite_at_db() -> None:
    settings = load_settings(None, {})
    assert settings.server.port == 8080 and settings.server.max_body_bytes == 10 * 1024 * 1024
    config = store_config(settings)
    assert (config.kind, config.datasource) == ("sqlite", "at.db")
    assert cluster_config(settings) is None


def test_env_overrides_every_level(tmp_path: Path) -> None:
    path = _write(tmp_path, "providers:\n  openai:\n    type: openai\n    api_key: ${OPENAI_KEY}\n")
    env = {
        "OPENAI_KEY": "sk-from-env",
        "AT_SERVER_PORT": "9001",
        "AT_SERVER_BASE_PATH": "/at",
        "AT_PROVIDERS_OPENAI_BASE_URL": "http://localhost:11434/v1",
        "AT_PROVIDERS_MY_GROQ_TYPE": "openai",
        "AT_PROVIDERS_MY_GROQ_MODELS": "llama-3.3-70b, mixtral",
        "AT_PROVIDERS_MY_GROQ_CONNECT_TIMEOUT": "2s",
        "AT_STORE_ENCRYPTION_KEY": "pass",
        "AT_STORE_POSTGRES_DATASOURCE": "postgres://u:p@db/at",
        "AT_CLUSTER_PEERS": "a:5000,b:5000",
        "AT_CLUSTER_SECURITY_KEY": "k",
    }
    settings = load_settings(path, env)
    assert settings.server.port == 9001 and settings.server.base_path == "/at"
    assert settings.providers["openai"].api_key == "sk-from-env"
    assert settings.providers["openai"].base_url == "http://localhost:11434/v1"
    groq = settings.providers["my_groq"]
    assert groq.models == ["llama-3.3-70b", "mixtral"] and groq.connect_timeout == 2.0
    assert store_config(settings).kind == "postgres"
    assert store_config(settings).encryption_key == "pass"
    cluster = cluster_config(settings)
    assert cluster is not None and cluster.peers == ("a:5000", "b:5000")


def test_alan_is_an_alias_for_cluster(tmp_path: Path) -> None:
    path = _write(tmp_path, "server:\n  alan:\n    dns_addr: at-headless\n"
                            "    security: {key: s}\n")
    cluster = cluster_config(load_settings(path, {}))
    assert cluster is not None and cluster.dns_addr == "at-headless"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("server: {port: abc}", {}, "server.port: 'abc' is not valid: Expected `int`, got `str`"),
        ("server: {prot: 1}", {}, "server.prot: unknown key"),
        ("", {"AT_SERVER_PORT": "70000"}, "server.port: 70000 is not valid: expected 1-65535"),
        ("providers: {x: {type: foo}}", {}, "providers.x.type: got 'foo', expected one of"),
        ("providers: {x: {type: openai, timeout: soon}}", {},
         "providers.x.timeout: 'soon' is not valid: expected a duration"),
        ("providers:\n  x:\n    type: openai\n    api_key: ${NOPE}\n", {},
         "providers.x.api_key: ${NOPE} is not set"),
        ("store: {postgres: {}}", {}, "store.postgres.datasource: missing: this key is required"),
        ("store: {memory: {}, sqlite: {}}", {}, "store: memory and sqlite are both set"),
        ("cluster: {peers: [a]}", {}, "cluster.security.key: missing"),
        ("cluster: {peers: [a], security: {key: k}, replicas: 0}", {},
         "cluster.replicas: 0 is not valid: expected >= 1"),
        ("cluster: {peers: [a], security: {key: k}, raft_port: 5000}", {},
         "cluster.raft_port: 5000 is not valid: expected a port other than cluster.port"),
        ("cluster: {peers: ['a:b'], security: {key: k}}", {}, "cluster.peers: 'a:b' is not valid"),
        ("server: {base_path: at/}", {}, "server.base_path: 'at/' is not valid"),
        ("server: [", {}, "is not valid YAML"),
        ("", {"AT_SERVR_PORT": "1"}, "AT_SERVR_PORT: does not name a config key"),
        ("server: {admin_token: 123}", {}, "server.admin_token: <redacted> is not valid"),
        # Once stored, then every listing that showed them failed to encode (a 500).
        ("providers: {x: {type: mock, max_tokens: 99999999999999999999999999}}", {},
         "providers.x.max_tokens: 99999999999999999999999999 is not valid: Expected `int` <= "
         "9223372036854775807"),
        ("providers: {x: {type: mock}}\nroutes: {r: {targets: [{model: x/m, priority: '"
         + "9" * 400 + "'}]}}", {}, "routes.r.targets[0].priority: '99999999"),
        # Once a traceback from check-config and serve, and a 500 from the admin API.
        ("providers: {x: {type: openai, base_url: 'http://[::1/v1'}}", {},
         "providers.x.base_url: not a valid URL (Invalid IPv6 URL)"),
        ("providers: {x: {type: openai, proxy: 'http://h:99999'}}", {},
         "providers.x.proxy: not a valid URL (Port out of range"),
        ("server: {host: 'not a host!!'}", {}, "server.host: 'not a host!!' is not valid"),
        ("server: {log_level: loud}", {}, "server.log_level: 'loud' is not valid: expected one"),
        ("server: {forward_auth: {address: nope}}", {},
         "server.forward_auth.address: 'nope' is not valid: expected an http:// or https://"),
        ("server: {forward_auth: {address: 'http://auth', auth_response_headers_regex: '(['}}",
         {}, "server.forward_auth.auth_response_headers_regex: not a valid regular expression"),
        ("server: {forward_auth: {redirect_code: 200}}", {},
         "server.forward_auth.redirect_code: 200 is not valid: expected 302 or 307"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, text), env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_check_config_cli(tmp_path: Path) -> None:
    good = _write(tmp_path, "providers: {demo: {type: mock}}\nstore: {memory: {}}\n")
    run = subprocess.run(
        [sys.executable, "-m", "node", "check-config", "--config", str(good)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "config ok: 1 provider(s), store memory" in run.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: nope}\n")
    run = subprocess.run(
        [sys.executable, "-m", "node", "serve", "--config", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "atgw: config error: server.port: 'nope' is not valid: Expected `int`, got `str`"
    ]


def test_bad_yaml_in_env_is_a_config_error_without_the_value() -> None:
    env = {"AT_PROVIDERS_X_TYPE": "openai",
           "AT_PROVIDERS_X_EXTRA_HEADERS": '{"Authorization": "Bearer sk-live-SECRET123", x'}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    text = str(caught.value)
    assert text.startswith("AT_PROVIDERS_X_EXTRA_HEADERS: not valid YAML")
    assert "SECRET123" not in text and "\n" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
