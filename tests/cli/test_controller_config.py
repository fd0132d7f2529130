"""``dcos-controller run --config FILE``: precedence flag > environment > file > default,
and one-line errors naming the file and the field."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.controller import _parser, main
from cli.controller_config import CONFIG_ENV, ConfigError, check, resolve

FULL = """\
etcd: [http://10.0.0.1:2379, http://10.0.0.2:2379]
prefix: /prod
mesos: http://10.0.0.5:5050
metrics-addr: 0.0.0.0:9200
id: ctl-a
lease-ttl: 7
timeout: 2.5
log-level: debug
etcd-username: controller
etcd-password: secret
etcd-ca-file: pki/ca.pem
etcd-cert-file: /abs/client.pem
etcd-key-file: client-key.pem
"""


def _resolved(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    args = _parser().parse_args(["run", *argv])
    resolve(args, env)
    check(args)
    return args


def test_every_setting_comes_from_the_file_with_paths_relative_to_it(tmp_path: Path) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text(FULL)
    path.chmod(0o600)
    args = _resolved(["--config", str(path)], {})
    assert args.etcd == "http://10.0.0.1:2379,http://10.0.0.2:2379"
    assert (args.prefix, args.mesos, args.metrics_addr) == (
        "/prod",
        "http://10.0.0.5:5050",
        "0.0.0.0:9200",
    )
    assert (args.id, args.lease_ttl, args.timeout, args.log_level) == ("ctl-a", 7, 2.5, "debug")
    assert (args.etcd_username, args.etcd_password) == ("controller", "secret")
    assert args.etcd_ca_file == str(tmp_path / "pki" / "ca.pem")
    assert args.etcd_cert_file == "/abs/client.pem"
    assert args.etcd_key_file == str(tmp_path / "client-key.pem")


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text("etcd: http://file:2379\nmesos: http://file:5050\nprefix: /file\n")
    env = {CONFIG_ENV: str(path), "DCOS_ETCD": "http://env:2379"}
    args = _resolved(["--mesos", "http://flag:5050"], env)
    assert args.mesos == "http://flag:5050"  # flag over file
    assert args.etcd == "http://env:2379"  # environment over file
    assert args.prefix == "/file"  # file over default
    assert args.lease_ttl == 5 and args.metrics_addr == "127.0.0.1:9100"  # defaults
    assert args.sources["prefix"] == f"{path}: field prefix"
    assert _resolved(["--etcd", "http://flag:2379"], env).etcd == "http://flag:2379"
    assert _resolved(["--config", str(path)], {}).etcd == "http://file:2379"


def test_without_a_file_the_defaults_hold() -> None:
    args = _resolved([], {})
    assert (args.etcd, args.prefix, args.mesos) == ("http://127.0.0.1:2379", "/dcos", None)
    assert args.id and args.etcd_username is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("lease-ttl: 0\n", "field lease-ttl: must be at least 1", id="ttl-zero"),
        pytest.param("lease-ttl: soon\n", "field lease-ttl: expected a whole", id="ttl-type"),
        pytest.param("timeout: -1\n", "field timeout: must be positive", id="timeout"),
        pytest.param("leader-ttl: 5\n", "field leader-ttl: unknown field", id="unknown"),
        pytest.param("lease_ttl: 5\n", "field lease_ttl: unknown field", id="underscore"),
        pytest.param("etcd: 5\n", "field etcd: expected a URL or a list", id="etcd-type"),
        pytest.param("etcd: ftp://x:1\n", "field etcd: etcd endpoint", id="etcd-scheme"),
        pytest.param("metrics-addr: nowhere\n", "field metrics-addr:", id="address"),
        pytest.param("log-level: loud\n", "field log-level: expected one of", id="level"),
        pytest.param("etcd-username: u\n", "field etcd-username: set etcd-username", id="pw"),
        pytest.param("etcd-cert-file: c.pem\n", "field etcd-cert-file: set", id="key-file"),
        pytest.param(
            "etcd-password: [1]\n", "field etcd-password: expected a string", id="pw-type"
        ),
        pytest.param("- etcd\n", "expected a mapping of settings", id="not-a-mapping"),
        pytest.param("etcd: [\n", "invalid YAML", id="yaml"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_field_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text(text)
    path.chmod(0o600)
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dcos-controller: error: {path}"), err
    assert says in lines[0], err


def test_a_missing_file_named_by_the_environment_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nowhere.yaml"))
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dcos-controller: error: {tmp_path / 'nowhere.yaml'}: cannot read: " + (
        "No such file or directory"
    )


def test_a_bad_flag_still_names_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text("lease-ttl: 3\n")
    args = _parser().parse_args(["run", "--config", str(path), "--lease-ttl", "0"])
    resolve(args, {})
    with pytest.raises(ConfigError, match=r"^--lease-ttl: must be at least 1$"):
        check(args)
