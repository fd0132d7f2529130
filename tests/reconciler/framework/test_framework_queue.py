"""LaunchQueue's per-app index: pending and cancel agree with a scan of every request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crds.app import App
from crds.domain import Domain
from reconciler.apps import Instance
from reconciler.framework import LaunchRequest
from reconciler.framework.queue import LaunchQueue
from reconciler.placement import AppKey

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DOMAIN = Domain.model_validate({"metadata": {"name": "shop"}, "spec": {}})
WEB, API = AppKey("shop", "web"), AppKey("shop", "api")


def app(name: str) -> App:
    return App.model_validate(
        {"metadata": {"name": name, "domain": "shop"}, "spec": {"image": f"r/{name}:1"}}
    )


def inst(n: int, name: str = "web") -> Instance:
    return Instance(
        instance_id=f"shop.{name}.0123abcd.{n:08x}",
        domain="shop",
        app=name,
        version="0123abcd0123abcd",
        launched_at=T0,
    )


def _assert_index_matches_scan(queue: LaunchQueue) -> None:
    requests = queue.requests()
    for req in requests:
        assert req.key == AppKey(req.instance.domain, req.instance.app)
    for key in {r.key for r in requests} | {WEB, API, AppKey("shop", "absent")}:
        assert queue.pending(key) == [r.instance for r in requests if r.key == key]


# (op, app name or None, instance numbers); the expected result of cancel/discard/take
Op = tuple[str, str, list[int]]

CASES: list[tuple[str, list[Op]]] = [
    ("request two apps", [("request", "web", [1, 2]), ("request", "api", [3])]),
    (
        "interleaved arrivals keep their order",
        [("request", "web", [1]), ("request", "api", [2]), ("request", "web", [3, 4])],
    ),
    ("request again replaces in place", [("request", "web", [1, 2, 3]), ("request", "web", [2])]),
    (
        "cancel one app",
        [("request", "web", [1, 2]), ("request", "api", [3]), ("cancel", "web", [])],
    ),
    ("cancel an app with nothing queued", [("request", "web", [1]), ("cancel", "api", [])]),
    (
        "take one, then the last of an app",
        [
            ("request", "web", [1, 2]),
            ("request", "api", [3]),
            ("take", "web", [2]),
            ("take", "api", [3]),
        ],
    ),
    (
        "discard queued and unknown",
        [("request", "web", [1, 2]), ("discard", "web", [1]), ("discard", "web", [9])],
    ),
    (
        "cancel then request again",
        [("request", "web", [1, 2]), ("cancel", "web", []), ("request", "web", [2, 5])],
    ),
    ("clear", [("request", "web", [1]), ("request", "api", [2]), ("clear", "web", [])]),
]


@pytest.mark.parametrize("ops", [ops for _, ops in CASES], ids=[n for n, _ in CASES])
def test_the_per_app_index_follows_request_cancel_and_take(ops: list[Op]) -> None:
    queue = LaunchQueue()
    for op, name, numbers in ops:
        key = AppKey("shop", name)
        before = queue.requests()
        if op == "request":
            a = app(name)
            queue.request(
                app=a, domain=DOMAIN, spec=a.spec, instances=[inst(n, name) for n in numbers]
            )
        elif op == "cancel":
            assert queue.cancel(key) == [r.instance for r in before if r.key == key]
        elif op == "take":
            for n in numbers:
                assert queue.take(inst(n, name).instance_id).instance == inst(n, name)
        elif op == "discard":
            for n in numbers:
                queued = any(r.instance.instance_id == inst(n, name).instance_id for r in before)
                assert queue.discard(inst(n, name).instance_id) is queued
        else:
            queue.clear()
        _assert_index_matches_scan(queue)
        assert len(queue) == len(queue.requests())


def test_take_of_an_unknown_instance_raises_and_leaves_the_index() -> None:
    queue = LaunchQueue()
    a = app("web")
    queue.request(app=a, domain=DOMAIN, spec=a.spec, instances=[inst(1)])
    with pytest.raises(KeyError):
        queue.take(inst(2).instance_id)
    assert queue.pending(WEB) == [inst(1)]


def test_the_request_key_is_computed_once() -> None:
    req = LaunchRequest(inst(1, "api"), app("api"), DOMAIN)
    assert req.key == API and req.key is req.key
    assert req == LaunchRequest(inst(1, "api"), app("api"), DOMAIN)
