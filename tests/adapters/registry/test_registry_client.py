"""The Registry HTTP API v2 client against a real docker-registry process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.registry import RegistryClient
from adapters.registry.client import SCHEMA2, sha256_digest
from localcluster.registry import RegistryServer, push_synthetic


@pytest.fixture(scope="module")
def server() -> Iterator[RegistryServer]:
    with RegistryServer() as running:
        yield running


@pytest.fixture
async def client(server: RegistryServer) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(server.url, chunk_bytes=64 * 1024) as registry:
        yield registry


async def test_push_then_list_and_read_back(client: RegistryClient) -> None:
    digest = await push_synthetic(client, "shop/cart", "v1", seed="a", layer_sizes=(2000, 3000))

    assert "shop/cart" in await client.catalog()
    assert await client.tags("shop/cart") == ["v1"]
    assert await client.manifest_digest("shop/cart", "v1") == digest
    manifest = await client.get_manifest("shop/cart", "v1")
    assert manifest is not None
    assert manifest.media_type == SCHEMA2
    assert sha256_digest(manifest.body) == digest
    assert len(manifest.blob_digests()) == 3  # config + 2 layers


async def test_absent_things_are_none_not_errors(client: RegistryClient) -> None:
    assert await client.tags("no/such") == []
    assert await client.manifest_digest("no/such", "v1") is None
    assert await client.get_manifest("no/such", "v1") is None
    assert not await client.has_blob("no/such", sha256_digest(b"x"))


async def test_chunked_upload_streams_and_verifies(client: RegistryClient) -> None:
    data = bytes(range(256)) * 1000  # 256 kB in four 64 kB chunks
    digest = sha256_digest(data)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    await client.upload_blob("big/blob", digest, pieces())

    got = b"".join([chunk async for chunk in client.stream_blob("big/blob", digest)])
    assert got == data


async def test_cross_repository_mount(client: RegistryClient) -> None:
    digest = await client.put_blob("mount/src", b"shared layer")

    assert await client.mount_blob("mount/dst", digest, "mount/src")
    assert await client.has_blob("mount/dst", digest)
    assert client.mounts == 1
    # A blob absent from the source repository is not mounted.
    assert not await client.mount_blob("mount/dst", sha256_digest(b"nope"), "mount/src")
