"""Config files that hold secrets must be private; secrets never show in a repr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from cli.config import Connection, GlobalOptions, resolve
from cli.controller import main as controller_main
from crds.errors import SpecError

WITH_PASSWORD = """\
current-context: prod
contexts:
  - name: prod
    etcd:
      endpoints: [https://127.0.0.1:2379]
      username: domain-shop
      password: s3cret-pw
"""
WITHOUT_SECRETS = """\
current-context: local
contexts:
  - name: local
    etcd: {endpoints: [http://127.0.0.1:2379]}
"""


def _config(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_password_readable_by_others_is_refused_naming_the_fix(tmp_path: Path, mode: int) -> None:
    path = _config(tmp_path, WITH_PASSWORD, mode)
    with pytest.raises(SpecError) as caught:
        resolve(GlobalOptions(), {"DCOS_CONFIG": str(path)})
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and message.endswith(f"run chmod 600 {path}")
    assert "s3cret-pw" not in message and "\n" not in message


def test_a_private_password_file_and_a_file_without_secrets_are_fine(tmp_path: Path) -> None:
    private = _config(tmp_path, WITH_PASSWORD, 0o600)
    conn = resolve(GlobalOptions(), {"DCOS_CONFIG": str(private)})
    assert conn.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(conn)
    public = _config(tmp_path, WITHOUT_SECRETS, 0o644)
    assert resolve(GlobalOptions(), {"DCOS_CONFIG": str(public)}).context == "local"


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "client-key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    text = WITHOUT_SECRETS.replace("}", ", cert-file: c.pem, key-file: client-key.pem}")
    path = _config(tmp_path, text, 0o644)
    with pytest.raises(SpecError, match=f"{key}: holds a private key.*chmod 600 {key}"):
        resolve(GlobalOptions(), {"DCOS_CONFIG": str(path)})


def test_the_cli_says_it_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Result],
    check_error: Callable[..., str],
) -> None:
    path = _config(tmp_path, WITH_PASSWORD, 0o644)
    monkeypatch.setenv("DCOS_CONFIG", str(path))
    assert check_error(run_cli("get", "domains")).endswith(f"run chmod 600 {path}")


def test_the_controller_refuses_a_readable_config_with_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text("etcd-username: controller\netcd-password: s3cret-pw\n")
    path.chmod(0o644)
    assert controller_main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"run chmod 600 {path}" in err and "s3cret-pw" not in err
    assert len(err.strip().splitlines()) == 1


def test_connection_repr_hides_the_password() -> None:
    assert "pw" not in repr(Connection(username="u", password="pw"))
