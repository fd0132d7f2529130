"""``dcosctl up --containerizer``: which one is used, and that it is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.up import _containerizer, _start_docker
from crds.errors import DcosError


def test_the_choice_is_recorded_and_kept_by_a_later_up_without_the_option(tmp_path: Path) -> None:
    assert _containerizer(tmp_path, None, mesos_port=5050) == "sim"
    assert (tmp_path / "containerizer").read_text() == "sim\n"
    assert _containerizer(tmp_path, "docker", mesos_port=5050) == "docker"  # nothing runs
    assert _containerizer(tmp_path, None, mesos_port=5050) == "docker"
    assert (tmp_path / "containerizer").read_text() == "docker\n"


def test_an_unknown_containerizer_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DcosError, match="unknown containerizer 'process'"):
        _containerizer(tmp_path, "process", mesos_port=5050)


def test_docker_without_root_says_so_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(DcosError, match="needs root"):
        _start_docker(tmp_path, images=[])
    assert not (tmp_path / "dockerd.pid").exists()
