"""``dcos-controller run --cmdb``: URL from flag > $DCOS_CMDB > file, the token only from
$DCOS_CMDB_TOKEN or the file (never a flag), and one-line errors with exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.controller import _parser, main
from cli.controller_config import CONFIG_ENV, resolve

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def _resolved(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    from cli.controller_config import check

    args = _parser().parse_args(["run", *argv])
    resolve(args, env)
    check(args)
    return args


def test_without_a_cmdb_nothing_is_set() -> None:
    args = _resolved([], {})
    assert (args.cmdb, args.cmdb_token, args.cmdb_role, args.cmdb_tag) == (None,) * 4


def test_url_flag_beats_environment_beats_file_and_filters_come_from_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text(
        f"cmdb: http://file:8000\ncmdb-token: {TOKEN}\ncmdb-role: container-host\ncmdb-tag: dcos\n"
    )
    path.chmod(0o600)
    env = {CONFIG_ENV: str(path)}
    args = _resolved([], env)
    assert (args.cmdb, args.cmdb_token) == ("http://file:8000", TOKEN)
    assert (args.cmdb_role, args.cmdb_tag) == ("container-host", "dcos")
    assert args.sources["cmdb_token"] == f"{path}: field cmdb-token"
    args = _resolved([], {**env, "DCOS_CMDB": "http://env:8000"})
    assert args.cmdb == "http://env:8000"
    args = _resolved(["--cmdb", "https://flag:8443", "--cmdb-role", "r"], {**env, "DCOS_CMDB": "x"})
    assert (args.cmdb, args.cmdb_role, args.sources["cmdb"]) == ("https://flag:8443", "r", "--cmdb")


def test_the_token_environment_variable_beats_the_file(tmp_path: Path) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text(f"cmdb-token: {TOKEN}\n")
    path.chmod(0o600)
    args = _resolved(
        ["--cmdb", "http://127.0.0.1:8000", "--config", str(path)], {"DCOS_CMDB_TOKEN": "f" * 40}
    )
    assert (args.cmdb_token, args.sources["cmdb_token"]) == ("f" * 40, "DCOS_CMDB_TOKEN")
    only_env = _resolved(["--cmdb", "http://127.0.0.1:8000"], {"DCOS_CMDB_TOKEN": TOKEN})
    assert only_env.cmdb_token == TOKEN


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--cmdb-token", TOKEN], id="separate"),
        pytest.param([f"--cmdb-token={TOKEN}"], id="equals"),
        pytest.param(["--cmdb", "http://127.0.0.1:8000", "--cmdb-token", TOKEN], id="with-url"),
    ],
)
def test_the_token_is_never_accepted_as_a_flag(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dcos-controller: error: unrecognized arguments: --cmdb-token"), err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        pytest.param(
            ["--cmdb", "http://127.0.0.1:8000"],
            {},
            "--cmdb: the CMDB needs its API token: set $DCOS_CMDB_TOKEN or cmdb-token",
            id="no-token",
        ),
        pytest.param(
            [],
            {"DCOS_CMDB": "http://127.0.0.1:8000"},
            "DCOS_CMDB: the CMDB needs its API token",
            id="no-token-env-url",
        ),
        pytest.param(
            ["--cmdb", "ftp://netbox"],
            {"DCOS_CMDB_TOKEN": TOKEN},
            "--cmdb: expected http(s)://HOST[:PORT], got 'ftp://netbox'",
            id="scheme",
        ),
        pytest.param(
            ["--cmdb", "http://netbox:99999"],
            {"DCOS_CMDB_TOKEN": TOKEN},
            "--cmdb: expected http(s)://HOST[:PORT]",
            id="port",
        ),
        pytest.param(
            ["--cmdb", "netbox:8000"],
            {"DCOS_CMDB_TOKEN": TOKEN},
            "--cmdb: expected http(s)://HOST[:PORT]",
            id="no-scheme",
        ),
        pytest.param(
            ["--cmdb", "http://127.0.0.1:8000"],
            {"DCOS_CMDB_TOKEN": "two words"},
            "DCOS_CMDB_TOKEN: must not contain spaces",
            id="token-spaces",
        ),
        pytest.param(["--cmdb-role", " "], {}, "--cmdb-role: must not be empty", id="role"),
    ],
)
def test_bad_cmdb_settings_are_one_line_and_exit_2(
    argv: list[str],
    env: dict[str, str],
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("DCOS_CMDB", "DCOS_CMDB_TOKEN", CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dcos-controller: error: {says}" or err.startswith(
        f"dcos-controller: error: {says}"
    ), err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("cmdb: 5\n", "field cmdb: expected a string", id="url-type"),
        pytest.param("cmdb-token: [x]\n", "field cmdb-token: expected a string", id="token-type"),
        pytest.param("cmdb: http://h:1\n", "field cmdb: the CMDB needs its API token", id="token"),
        pytest.param("cmdb_token: x\n", "field cmdb_token: unknown field", id="underscore"),
    ],
)
def test_a_bad_cmdb_field_names_the_file_and_field(
    tmp_path: Path,
    text: str,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("DCOS_CMDB", "DCOS_CMDB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "controller.yaml"
    path.write_text(text)
    path.chmod(0o600)
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dcos-controller: error: {path}: {says}"), err
    assert len(err.splitlines()) == 1
