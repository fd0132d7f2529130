"""RegistryMirror: replicas, upstream URL, repositories and sync interval."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crds.registrymirror import RegistryMirrorSpec

BASE: dict[str, Any] = {"upstream": "https://registry.example.com", "repositories": ["shop/*"]}


def test_defaults() -> None:
    spec = RegistryMirrorSpec.model_validate(BASE)
    assert spec.replicas == 1
    assert (spec.port, spec.storage_path, spec.image) == (5000, "/data/registry", "registry:2")
    assert spec.sync_interval_seconds == 300
    assert spec.host_selector.matches({})


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"repositories": ["*"]}, id="everything"),
        pytest.param({"repositories": ["checkout/cart", "search/*", "base-?"]}, id="names-globs"),
        pytest.param({"upstream": "http://10.0.0.5:5000"}, id="http-with-port"),
        pytest.param({"replicas": 3, "syncIntervalSeconds": 10}, id="three-replicas"),
        pytest.param({"upstream": None}, id="no-upstream"),
        pytest.param({"serves": "registry.sh1.example.com:5000"}, id="serves"),
        pytest.param({"cpus": 0.25, "mem": "512Mi", "gateTimeoutSeconds": 60}, id="resources"),
    ],
)
def test_registry_mirror_spec_accepts(change: dict[str, Any]) -> None:
    RegistryMirrorSpec.model_validate({**BASE, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"replicas": 0}, "greater than or equal to 1", id="zero-replicas"),
        pytest.param({"upstream": "registry.example.com"}, "http:// or https://", id="no-scheme"),
        pytest.param({"upstream": "ftp://registry"}, "http:// or https://", id="ftp"),
        pytest.param({"upstream": "https://"}, "with a host", id="no-host"),
        pytest.param({"repositories": []}, "at least 1 item", id="no-repositories"),
        pytest.param({"repositories": ["Shop/*"]}, "lower-case repository", id="upper-case"),
        pytest.param({"repositories": ["shop/"]}, "lower-case repository", id="trailing-slash"),
        pytest.param({"port": 0}, "greater than or equal to 1", id="port"),
        pytest.param({"storagePath": "data"}, "absolute", id="relative-storage"),
        pytest.param({"syncIntervalSeconds": 5}, "greater than or equal to 10", id="sync-too-fast"),
        pytest.param({"image": "Registry"}, "not a docker reference", id="image"),
        pytest.param({"serves": "https://reg.example.com"}, "registry host name", id="serves-url"),
        pytest.param({"gateTimeoutSeconds": 0}, "greater than or equal to 1", id="gate-timeout"),
        pytest.param({"cpus": 0}, "greater than 0", id="cpus"),
    ],
)
def test_registry_mirror_spec_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegistryMirrorSpec.model_validate({**BASE, **change})
