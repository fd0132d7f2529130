"""Where dcosctl finds etcd: --etcd, DCOS_ETCD, the config context, the default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from cli.config import DEFAULT_ENDPOINT, GlobalOptions, resolve
from crds.errors import SpecError

ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""

CONFIG = """\
current-context: local
contexts:
  - name: local
    etcd:
      endpoints: [http://127.0.0.1:2379]
  - name: prod
    etcd:
      endpoints: [https://etcd-1.example.com:2379, https://etcd-2.example.com:2379]
      prefix: /dcos-prod
      username: ops
      password: secret
      ca-file: certs/ca.pem
      timeout: 2
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return {"DCOS_CONFIG": str(path)}


def test_default_without_any_config(tmp_path: Path) -> None:
    conn = resolve(GlobalOptions(), {"XDG_CONFIG_HOME": str(tmp_path)})
    assert conn.endpoints == (DEFAULT_ENDPOINT,)
    assert conn.prefix == "/dcos"
    assert conn.context is None


def test_current_context(tmp_path: Path) -> None:
    conn = resolve(GlobalOptions(), write_config(tmp_path, CONFIG.replace(": local", ": prod", 1)))
    assert conn.context == "prod"
    assert conn.endpoints == ("https://etcd-1.example.com:2379", "https://etcd-2.example.com:2379")
    assert conn.prefix == "/dcos-prod"
    assert (conn.username, conn.password, conn.timeout) == ("ops", "secret", 2.0)
    assert conn.ca_file == str(tmp_path / "certs" / "ca.pem")


def test_context_flag_picks_another_context(tmp_path: Path) -> None:
    conn = resolve(GlobalOptions(context="prod"), write_config(tmp_path))
    assert conn.context == "prod"


def test_config_file_in_xdg_config_home(tmp_path: Path) -> None:
    folder = tmp_path / "dcosctl"
    folder.mkdir()
    (folder / "config.yaml").write_text(CONFIG.replace(": local", ": prod", 1))
    (folder / "config.yaml").chmod(0o600)
    assert resolve(GlobalOptions(), {"XDG_CONFIG_HOME": str(tmp_path)}).context == "prod"


@pytest.mark.parametrize(
    ("options", "env", "expected"),
    [
        pytest.param(GlobalOptions(), {}, "http://127.0.0.1:2379", id="context"),
        pytest.param(GlobalOptions(), {"DCOS_ETCD": "http://e:1"}, "http://e:1", id="env"),
        pytest.param(
            GlobalOptions(etcd="http://f:2,http://g:3"),
            {"DCOS_ETCD": "http://e:1"},
            "http://f:2",
            id="flag-over-env",
        ),
    ],
)
def test_endpoint_precedence(
    tmp_path: Path, options: GlobalOptions, env: dict[str, str], expected: str
) -> None:
    conn = resolve(options, {**write_config(tmp_path), **env})
    assert conn.endpoints[0] == expected


def test_flags_keep_the_context_credentials(tmp_path: Path) -> None:
    options = GlobalOptions(etcd="https://other:2379", prefix="/x", context="prod", timeout=9)
    conn = resolve(options, write_config(tmp_path))
    assert (conn.endpoints, conn.prefix, conn.timeout) == (("https://other:2379",), "/x", 9)
    assert conn.username == "ops"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("current-context: [\n", ":1:", id="invalid-yaml"),
        pytest.param("- a\n", "top level", id="not-a-mapping"),
        pytest.param("current-context: x\ncontextz: []\n", "contextz", id="unknown-top-field"),
        pytest.param("current-context: x\ncontexts: []\n", "current-context", id="no-context"),
        pytest.param(
            "current-context: a\ncontexts:\n- name: a\n  etcd: {endpoints: 5}\n",
            "contexts[0].etcd.endpoints",
            id="bad-endpoints",
        ),
        pytest.param(
            "current-context: a\ncontexts:\n- name: a\n  etcd: {cafile: x}\n",
            "contexts[0].etcd.cafile",
            id="unknown-etcd-field",
        ),
        pytest.param(
            "current-context: a\ncontexts:\n- name: a\n  etcd: {timeout: -1}\n",
            "contexts[0].etcd.timeout",
            id="bad-timeout",
        ),
        pytest.param(
            "current-context: a\ncontexts:\n- name: a\n  etcd: {username: u}\n",
            "contexts[0].etcd.username",
            id="username-without-password",
        ),
    ],
)
def test_bad_config_names_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    env = write_config(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        resolve(GlobalOptions(), env)
    assert str(caught.value).startswith(env["DCOS_CONFIG"])
    assert field in str(caught.value)


def test_missing_config_named_by_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        resolve(GlobalOptions(), {"DCOS_CONFIG": str(tmp_path / "nope.yaml")})


def test_context_flag_without_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--context"):
        resolve(GlobalOptions(context="x"), {"XDG_CONFIG_HOME": str(tmp_path)})


def test_cli_uses_the_config_context(
    run_cli: Callable[..., Result],
    etcd_endpoint: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = f"current-context: t\ncontexts:\n- name: t\n  etcd:\n    endpoints: [{etcd_endpoint}]\n"
    text += f"    prefix: {prefix}\n"
    monkeypatch.setenv("DCOS_CONFIG", write_config(tmp_path, text)["DCOS_CONFIG"])
    result = run_cli("get", "apps")
    assert result.exit_code == 0, result.output
    assert result.stderr == "No apps found.\n"


def test_cli_prefers_dcos_etcd_over_the_config(
    run_cli: Callable[..., Result],
    etcd_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    check_error: ErrorCheck,
) -> None:
    text = (
        "current-context: t\ncontexts:\n- name: t\n  etcd:\n    endpoints: [http://127.0.0.1:1]\n"
    )
    monkeypatch.setenv("DCOS_CONFIG", write_config(tmp_path, text)["DCOS_CONFIG"])
    line = check_error(run_cli("--timeout", "1", "get", "apps"))
    assert "127.0.0.1:1" in line
    monkeypatch.setenv("DCOS_ETCD", etcd_endpoint)
    result = run_cli("--prefix", "/test-cli-empty", "get", "apps")
    assert result.exit_code == 0, result.output


def test_cli_bad_config_is_one_error_line(
    run_cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    check_error: ErrorCheck,
) -> None:
    monkeypatch.setenv("DCOS_CONFIG", write_config(tmp_path, "contexts: 3\n")["DCOS_CONFIG"])
    line = check_error(run_cli("get", "apps"))
    assert "config.yaml" in line
    assert "contexts" in line
