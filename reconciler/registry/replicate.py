"""Replication of the tags of a RegistryMirror's repositories across its replicas.

Every replica takes pushes, so a tag may appear on any of them. One sync:

1. lists, on every replica, the repositories matching ``spec.repositories``
   (names or globs) and the digest of each of their tags (HEAD on the manifest);
2. decides the wanted digest of each (repository, tag): the primary's (the
   first ready replica, in a stable order) when it has the tag, else the first
   replica's that has it. A tag pushed to a secondary therefore spreads to all,
   and on a conflict the primary's digest wins;
3. copies each missing or differing tag to each replica from a replica holding
   the wanted digest (the primary first): blobs first, each one skipped when the
   destination already holds it in that repository, mounted from another
   repository of the destination when it is known there (a cross-repository
   mount copies nothing), else streamed from the source; child manifests of a
   manifest list before the list; the tagged manifest LAST, so a replica never
   serves a manifest whose blobs it lacks.

A sync that is interrupted (a replica dies, the controller restarts) leaves
only whole blobs and whole manifests behind; the next sync finds what is
already there by HEAD and copies only the rest. Nothing is ever deleted: a tag
removed from one replica comes back from the others.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from adapters.registry import RegistryClient, RegistryError, child_digests

__all__ = ["ReplicaReport", "SyncReport", "matches", "sync_replicas"]

Key = tuple[str, str]  # (repository, tag)


def matches(repository: str, patterns: Sequence[str]) -> bool:
    """True when ``repository`` is named by one of the names or globs."""
    return any(fnmatch.fnmatchcase(repository, pattern) for pattern in patterns)


@dataclass
class ReplicaReport:
    """What one sync did to one replica."""

    url: str
    missing_before: int = 0
    """Tags whose digest differed from the wanted one when the sync began (the lag)."""
    missing: int = 0
    """Tags still differing when the sync ended (0 unless an error stopped it)."""
    tags_copied: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    bytes_copied: int = 0
    error: str | None = None


@dataclass
class SyncReport:
    """The outcome of one sync across all replicas."""

    primary: str
    tags: int = 0
    """Distinct (repository, tag) pairs wanted on every replica."""
    replicas: list[ReplicaReport] = field(default_factory=list)
    repositories: int = 0
    """Distinct repositories among them."""

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.replicas)

    @property
    def bytes_copied(self) -> int:
        return sum(r.bytes_copied for r in self.replicas)


async def _inventory(client: RegistryClient, patterns: Sequence[str]) -> dict[Key, str]:
    found: dict[Key, str] = {}
    for repository in await client.catalog():
        if not matches(repository, patterns):
            continue
        for tag in await client.tags(repository):
            digest = await client.manifest_digest(repository, tag)
            if digest is not None:
                found[(repository, tag)] = digest
    return found


class _Copier:
    """Copies manifests (and their blobs) from a source replica to one destination."""

    def __init__(self, destination: RegistryClient, report: ReplicaReport) -> None:
        self.destination = destination
        self.report = report
        self.blob_home: dict[str, str] = {}
        """Blobs known on the destination -> a repository holding them (mount source)."""

    async def copy(
        self, source: RegistryClient, repository: str, reference: str, tag: str | None
    ) -> None:
        manifest = await source.get_manifest(repository, reference)
        if manifest is None:
            raise RegistryError(f"{source.base_url}: {repository}@{reference} vanished")
        for child in child_digests(manifest):
            if await self.destination.manifest_digest(repository, child) is None:
                await self.copy(source, repository, child, None)
        for digest in manifest.blob_digests():
            await self._blob(source, repository, digest)
        await self.destination.put_manifest(repository, tag or manifest.digest, manifest)

    async def _blob(self, source: RegistryClient, repository: str, digest: str) -> None:
        if await self.destination.has_blob(repository, digest):
            self.blob_home.setdefault(digest, repository)
            return
        home = self.blob_home.get(digest)
        if (
            home is not None
            and home != repository
            and await self.destination.mount_blob(repository, digest, home)
        ):
            self.report.blobs_mounted += 1
            return
        await self.destination.upload_blob(
            repository, digest, self._counted(source.stream_blob(repository, digest))
        )
        self.report.blobs_copied += 1
        self.blob_home.setdefault(digest, repository)

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self.report.bytes_copied += len(chunk)
            yield chunk


async def sync_replicas(replicas: Sequence[RegistryClient], patterns: Sequence[str]) -> SyncReport:
    """One sync across ``replicas`` (the first is the primary). Errors on one
    replica are recorded in its report and do not stop the others."""
    if not replicas:
        raise ValueError("no replica to sync")
    reports = [ReplicaReport(url=client.base_url) for client in replicas]
    inventories: list[dict[Key, str] | None] = []
    for client, report in zip(replicas, reports, strict=True):
        try:
            inventories.append(await _inventory(client, patterns))
        except Exception as err:  # a registry error or a transport error (replica down)
            report.error = f"listing: {type(err).__name__}: {err}"
            inventories.append(None)
    wanted: dict[Key, str] = {}
    for inventory in inventories:  # primary first: its digests win
        for key, digest in (inventory or {}).items():
            wanted.setdefault(key, digest)
    result = SyncReport(
        primary=replicas[0].base_url,
        tags=len(wanted),
        replicas=reports,
        repositories=len({repository for repository, _ in wanted}),
    )

    async def catch_up(index: int) -> None:
        client, report, inventory = replicas[index], reports[index], inventories[index]
        if inventory is None:
            report.missing_before = report.missing = len(wanted)
            return
        todo = sorted(key for key, digest in wanted.items() if inventory.get(key) != digest)
        report.missing_before = report.missing = len(todo)
        copier = _Copier(client, report)
        for repository, tag in todo:
            digest = wanted[(repository, tag)]
            sources = [
                replicas[i]
                for i, inv in enumerate(inventories)
                if i != index and inv is not None and inv.get((repository, tag)) == digest
            ]
            try:
                await copier.copy(sources[0], repository, digest, tag)
            except Exception as err:  # recorded per replica; the sync goes on
                report.error = f"{repository}:{tag}: {type(err).__name__}: {err}"
                return
            report.tags_copied += 1
            report.missing -= 1

    # Replicas are caught up concurrently; each one's tags in order.
    await asyncio.gather(*(catch_up(index) for index in range(len(replicas))))
    return result
