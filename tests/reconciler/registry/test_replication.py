"""Replication across three real docker-registry processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.registry import RegistryClient
from localcluster.registry import RegistryServer, push_synthetic
from reconciler.registry import (
    GateResult,
    GateVerdict,
    gate_verdict,
    image_on_replicas,
    split_image,
    sync_replicas,
)
from reconciler.registry.replicate import matches


@pytest.fixture
def servers() -> Iterator[list[RegistryServer]]:
    started: list[RegistryServer] = []
    try:
        for _ in range(3):
            server = RegistryServer()
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.close()


@pytest.fixture
async def clients(servers: list[RegistryServer]) -> AsyncIterator[list[RegistryClient]]:
    registries = [RegistryClient(s.url, chunk_bytes=64 * 1024) for s in servers]
    yield registries
    for registry in registries:
        await registry.aclose()


async def test_push_to_one_appears_on_the_others(clients: list[RegistryClient]) -> None:
    primary, second, third = clients
    digest = await push_synthetic(primary, "shop/cart", "v1", seed="cart", layer_sizes=(5000,))
    pushed_to_second = await push_synthetic(second, "shop/web", "v2", seed="web")

    report = await sync_replicas(clients, ["shop/*"])

    assert report.ok, report
    for registry in clients:
        assert await registry.manifest_digest("shop/cart", "v1") == digest
        assert await registry.manifest_digest("shop/web", "v2") == pushed_to_second
    assert [r.missing_before for r in report.replicas] == [1, 1, 2]
    assert [r.missing for r in report.replicas] == [0, 0, 0]
    # Nothing left to do: a second sync copies nothing.
    again = await sync_replicas(clients, ["shop/*"])
    assert sum(r.tags_copied for r in again.replicas) == 0
    assert third.base_url in [r.url for r in again.replicas]


async def test_only_listed_repositories_are_copied(clients: list[RegistryClient]) -> None:
    await push_synthetic(clients[0], "shop/cart", "v1", seed="a")
    await push_synthetic(clients[0], "private/x", "v1", seed="b")

    await sync_replicas(clients, ["shop/*"])

    assert await clients[1].catalog() == ["shop/cart"]
    assert matches("shop/cart", ["shop/*"]) and not matches("private/x", ["shop/*"])


async def test_blob_shared_by_two_repositories_is_mounted(clients: list[RegistryClient]) -> None:
    base = b"base layer " * 5000
    await push_synthetic(clients[0], "shop/a", "v1", seed="a", shared_layers=(base,))
    await push_synthetic(clients[0], "shop/b", "v1", seed="b", shared_layers=(base,))

    report = await sync_replicas(clients[:2], ["shop/*"])

    assert report.ok
    assert report.replicas[1].blobs_mounted == 1  # the base layer, second repository
    assert clients[1].mounts == 1
    for repository in ("shop/a", "shop/b"):
        assert await clients[1].manifest_digest(repository, "v1") == (
            await clients[0].manifest_digest(repository, "v1")
        )


async def test_tag_conflict_primary_wins(clients: list[RegistryClient]) -> None:
    on_primary = await push_synthetic(clients[0], "shop/cart", "v1", seed="primary")
    await push_synthetic(clients[2], "shop/cart", "v1", seed="other")

    report = await sync_replicas(clients, ["*"])

    assert report.ok
    for registry in clients:
        assert await registry.manifest_digest("shop/cart", "v1") == on_primary


async def test_interrupted_sync_resumes(
    servers: list[RegistryServer], clients: list[RegistryClient]
) -> None:
    for n in range(3):
        await push_synthetic(clients[0], "shop/cart", f"v{n}", seed=f"s{n}", layer_sizes=(4000,))
    servers[2].stop()

    first = await sync_replicas(clients, ["shop/*"])

    assert not first.ok and first.replicas[2].error is not None
    assert first.replicas[1].missing == 0
    # The stopped replica comes back (same storage, a new port) and is caught up.
    servers[2].start()
    clients[2] = RegistryClient(servers[2].url)
    second = await sync_replicas(clients, ["shop/*"])
    assert second.ok, second
    assert second.replicas[1].tags_copied == 0
    assert sorted(await clients[2].tags("shop/cart")) == ["v0", "v1", "v2"]
    await clients[2].aclose()


async def test_gate_opens_when_the_digest_is_everywhere(clients: list[RegistryClient]) -> None:
    digest = await push_synthetic(clients[0], "shop/cart", "v1", seed="g")

    closed = await image_on_replicas(clients, "shop/cart", "v1")
    assert not closed.open and closed.digest == digest
    assert closed.missing_on == (clients[1].base_url, clients[2].base_url)

    await sync_replicas(clients, ["shop/*"])

    assert (await image_on_replicas(clients, "shop/cart", "v1")).open
    assert split_image("registry.sh1.example.com:5000/shop/cart:v1") == (
        "registry.sh1.example.com:5000",
        "shop/cart",
        "v1",
    )
    assert split_image("busybox:1.36") is None


def test_gate_verdict_waits_then_fails_at_the_timeout() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    closed = GateResult(open=False, digest="sha256:x", missing_on=("http://r2",))
    opened = GateResult(open=True, digest="sha256:x", missing_on=())

    def verdict(result: GateResult, seconds: int) -> GateVerdict:
        now = since + timedelta(seconds=seconds)
        return gate_verdict(result, waiting_since=since, now=now, timeout_seconds=60)

    assert verdict(closed, 59) is GateVerdict.WAIT
    assert verdict(closed, 60) is GateVerdict.FAILED
    assert verdict(opened, 600) is GateVerdict.OPEN
