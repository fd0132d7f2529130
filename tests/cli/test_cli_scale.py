"""scale: spec.instances set by compare-and-swap, last-applied left alone, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.meta import Resource
from localcluster.etcd import free_port
from reconciler.apply import LAST_APPLIED
from reconciler.apps.rollout_view import scale_app

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
CART = ObjectKey("App", "checkout", "cart")


def _instances(dcosctl: Cli) -> str:
    result = dcosctl("get", "app", "cart", "-d", "checkout", "-o", "json")
    return str(json.loads(result.stdout)["spec"]["instances"])


@pytest.mark.parametrize(
    "target", [pytest.param(["app/cart"], id="slash"), pytest.param(["app", "cart"], id="space")]
)
def test_scale_sets_instances(dcosctl: Cli, applied: Path, target: list[str]) -> None:
    result = dcosctl("scale", *target, "-d", "checkout", "--instances", "9")
    assert result.exit_code == 0, result.output
    assert result.stdout == "App/checkout/cart scaled from 6 to 9 instances\n"
    assert _instances(dcosctl) == "9"


def test_scale_to_the_same_count_says_unchanged(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("scale", "app/cart", "-d", "checkout", "--instances", "6")
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.stdout


def test_scale_leaves_last_applied_so_a_later_apply_sets_the_file_value(
    dcosctl: Cli, applied: Path
) -> None:
    before = json.loads(dcosctl("get", "app", "cart", "-d", "checkout", "-o", "json").stdout)
    assert dcosctl("scale", "app/cart", "-d", "checkout", "--instances", "2").exit_code == 0
    after = json.loads(dcosctl("get", "app", "cart", "-d", "checkout", "-o", "json").stdout)
    annotations = after["metadata"]["annotations"]
    assert annotations[LAST_APPLIED] == before["metadata"]["annotations"][LAST_APPLIED]
    assert dcosctl("apply", "-f", str(applied)).exit_code == 0
    assert _instances(dcosctl) == "6"  # the file names instances: apply corrects the drift


def test_scale_keeps_instances_when_the_file_does_not_name_them(
    dcosctl: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(
        "apiVersion: dcos/v1\nkind: App\nmetadata: {name: cart, domain: checkout}\n"
        "spec: {image: 'registry.example.com/cart:1'}\n"
    )
    assert dcosctl("apply", "-f", str(path)).exit_code == 0
    assert dcosctl("scale", "app/cart", "-d", "checkout", "--instances", "4").exit_code == 0
    assert dcosctl("apply", "-f", str(path)).exit_code == 0
    assert _instances(dcosctl) == "4"


async def test_scale_retries_a_lost_compare_and_swap(store: EtcdStore) -> None:
    app = App.model_validate(
        {"metadata": {"name": "cart", "domain": "checkout"}, "spec": {"image": "cart:1"}}
    )
    await store.create(app)
    real_update = store.update
    calls = 0

    async def racing_update(obj: Resource) -> Resource:
        nonlocal calls
        calls += 1
        if calls == 1:  # another writer gets in first
            live = await store.get(CART)
            labelled = live.metadata.model_copy(update={"labels": {"by": "other"}})
            await real_update(live.model_copy(update={"metadata": labelled}))
        return await real_update(obj)

    store.update = racing_update  # type: ignore[method-assign]
    assert await scale_app(store, CART, 5) == 1
    got = await store.get(CART)
    assert isinstance(got, App)
    assert got.spec.instances == 5
    assert got.metadata.labels == {"by": "other"}
    assert calls == 2


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        pytest.param(["app/nope", "-d", "checkout"], 1, "not found", id="unknown-app"),
        pytest.param(["app/cart"], 2, "-d DOMAIN", id="no-domain"),
        pytest.param(["domain/checkout"], 2, "App", id="not-an-app"),
        pytest.param(["app"], 2, "name the App", id="no-name"),
        pytest.param(["app/cart", "cart", "-d", "checkout"], 2, "not", id="both-forms"),
    ],
)
def test_scale_errors_are_one_line(
    dcosctl: Cli,
    applied: Path,
    check_error: ErrorCheck,
    args: list[str],
    code: int,
    expected: str,
) -> None:
    line = check_error(dcosctl("scale", *args, "--instances", "3"), code)
    assert expected in line


def test_scale_with_etcd_down_is_one_line(run_cli: Cli, check_error: ErrorCheck) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    args = ("--etcd", endpoint, "--timeout", "0.5", "scale", "app/cart", "-d", "x")
    line = check_error(run_cli(*args, "--instances", "3"))
    assert endpoint in line


def test_negative_instances_is_a_usage_error(dcosctl: Cli) -> None:
    result = dcosctl("scale", "app/cart", "-d", "checkout", "--instances", "-1")
    assert result.exit_code == 2


def test_apply_leaves_a_count_that_a_scaling_policy_owns(dcosctl: Cli, applied: Path) -> None:
    policy = applied.parent / "policy.yaml"
    policy.write_text(
        "apiVersion: dcos/v1\nkind: ScalingPolicy\n"
        "metadata: {name: cart-sales, domain: checkout}\n"
        "spec:\n  targetRef: {name: cart}\n"
        "  schedules:\n    - {name: sale, cron: '0 10 * * *', instances: 40, until: 2h}\n"
    )
    assert dcosctl("apply", "-f", str(policy)).exit_code == 0
    assert dcosctl("scale", "app/cart", "-d", "checkout", "--instances", "40").exit_code == 0
    assert dcosctl("diff", "-f", str(applied)).exit_code == 0  # the policy's count is no drift
    result = dcosctl("apply", "-f", str(applied))
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.stdout
    assert _instances(dcosctl) == "40"
