"""An async client for the Docker Registry HTTP API v2, the API every registry
(docker-registry/distribution, Harbor, the Docker Hub) speaks.

Only what replication needs: the catalog and tag lists, manifests by tag or
digest (GET with an ``Accept`` naming schema2, OCI and manifest lists, so the
registry returns the stored bytes unchanged and the digest stays the same;
HEAD for the digest alone), blob HEAD, and blob upload. Blobs are streamed
from the source registry into the destination in chunks (a PATCH per chunk,
then the closing PUT with the digest), so a layer of any size never sits in
memory whole. When the destination already holds the blob in another
repository, a cross-repository mount (``POST /v2/<repo>/blobs/uploads/?mount=
<digest>&from=<repo>``) makes the copy free; a registry that refuses the mount
answers 202 with an upload session, which the client then uses.

Manifests are put LAST by callers, after all their blobs: a registry rejects a
manifest naming a blob it does not hold (MANIFEST_BLOB_UNKNOWN).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urljoin

import httpx

__all__ = ["MANIFEST_MEDIA_TYPES", "Manifest", "RegistryClient", "RegistryError", "child_digests"]

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA2_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPES = (SCHEMA2, SCHEMA2_LIST, OCI_MANIFEST, OCI_INDEX)
LIST_MEDIA_TYPES = (SCHEMA2_LIST, OCI_INDEX)
_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
CHUNK_BYTES = 4 * 1024 * 1024


class RegistryError(Exception):
    """A registry answered with an unexpected status; the message names the call."""


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as stored: its bytes, media type and digest."""

    media_type: str
    body: bytes
    digest: str

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_MEDIA_TYPES

    def blob_digests(self) -> list[str]:
        """Config then layers of an image manifest (none for a list)."""
        if self.is_list:
            return []
        doc = self.document()
        out = [doc["config"]["digest"]] if "config" in doc else []
        out.extend(layer["digest"] for layer in doc.get("layers", []) if "urls" not in layer)
        return out


def child_digests(manifest: Manifest) -> list[str]:
    """The child manifests of a manifest list / OCI index."""
    if not manifest.is_list:
        return []
    return [entry["digest"] for entry in manifest.document().get("manifests", [])]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    """One registry at ``base_url`` (e.g. http://127.0.0.1:5000)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, chunk_bytes: int = CHUNK_BYTES):
        self.base_url = base_url.rstrip("/")
        self.chunk_bytes = chunk_bytes
        self.requests = 0
        """Requests sent, by every method (tests and benches count them)."""
        self.mounts = 0
        """Blobs copied by a cross-repository mount."""
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        return await self._http.request(method, url, **kwargs)

    @staticmethod
    def _fail(what: str, response: httpx.Response) -> RegistryError:
        return RegistryError(f"{what}: HTTP {response.status_code} {response.text[:200]}")

    # -- discovery -------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the registry answers ``GET /v2/``."""
        try:
            response = await self._send("GET", "/v2/")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def catalog(self) -> list[str]:
        """Every repository, following the ``Link`` pagination."""
        names: list[str] = []
        url: str | None = "/v2/_catalog?n=1000"
        while url:
            response = await self._send("GET", url)
            if response.status_code != 200:
                raise self._fail("catalog", response)
            names.extend(response.json().get("repositories") or [])
            url = _next_link(response)
        return names

    async def tags(self, repository: str) -> list[str]:
        """The tags of ``repository``; empty when it does not exist."""
        tags: list[str] = []
        url: str | None = f"/v2/{repository}/tags/list?n=1000"
        while url:
            response = await self._send("GET", url)
            if response.status_code == 404:
                return []
            if response.status_code != 200:
                raise self._fail(f"tags of {repository}", response)
            tags.extend(response.json().get("tags") or [])
            url = _next_link(response)
        return tags

    # -- manifests -------------------------------------------------------------

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest of a tag or digest (HEAD), None when absent."""
        response = await self._send(
            "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": _ACCEPT}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(f"HEAD manifest {repository}:{reference}", response)
        digest = response.headers.get("Docker-Content-Digest")
        return str(digest) if digest else None

    async def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        response = await self._send(
            "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": _ACCEPT}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(f"GET manifest {repository}:{reference}", response)
        body = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = response.headers.get("Docker-Content-Digest") or sha256_digest(body)
        return Manifest(media_type=media_type, body=body, digest=digest)

    async def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Store ``manifest`` under a tag or its digest; returns the digest."""
        response = await self._send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        if response.status_code != 201:
            raise self._fail(f"PUT manifest {repository}:{reference}", response)
        return str(response.headers.get("Docker-Content-Digest", manifest.digest))

    async def delete_manifest(self, repository: str, digest: str) -> None:
        response = await self._send("DELETE", f"/v2/{repository}/manifests/{digest}")
        if response.status_code not in (202, 404):
            raise self._fail(f"DELETE manifest {repository}@{digest}", response)

    # -- blobs -----------------------------------------------------------------

    async def has_blob(self, repository: str, digest: str) -> bool:
        response = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status_code in (200, 307):
            return True
        if response.status_code == 404:
            return False
        raise self._fail(f"HEAD blob {repository}@{digest}", response)

    async def stream_blob(self, repository: str, digest: str) -> AsyncIterator[bytes]:
        """The blob's bytes, chunk by chunk (redirects to a storage backend followed)."""
        self.requests += 1
        async with self._http.stream(
            "GET", f"/v2/{repository}/blobs/{digest}", follow_redirects=True
        ) as response:
            if response.status_code != 200:
                await response.aread()
                raise self._fail(f"GET blob {repository}@{digest}", response)
            async for chunk in response.aiter_bytes(self.chunk_bytes):
                yield chunk

    async def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        """Cross-repository mount; True when mounted. On refusal the upload
        session the registry opened is cancelled and False returned."""
        response = await self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            params={"mount": digest, "from": source_repository},
        )
        if response.status_code == 201:
            self.mounts += 1
            return True
        if response.status_code == 202:
            await self._send("DELETE", self._location(response))
            return False
        raise self._fail(f"mount {digest} into {repository}", response)

    async def upload_blob(self, repository: str, digest: str, chunks: AsyncIterator[bytes]) -> None:
        """Chunked upload: POST opens a session, one PATCH per chunk, PUT closes
        it with the digest (the registry verifies it)."""
        response = await self._send("POST", f"/v2/{repository}/blobs/uploads/")
        if response.status_code != 202:
            raise self._fail(f"start upload to {repository}", response)
        location = self._location(response)
        offset = 0
        async for chunk in _rechunk(chunks, self.chunk_bytes):
            response = await self._send(
                "PATCH",
                location,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            if response.status_code != 202:
                raise self._fail(f"upload chunk to {repository}", response)
            offset += len(chunk)
            location = self._location(response)
        response = await self._send("PUT", _with_digest(location, digest))
        if response.status_code != 201:
            raise self._fail(f"finish upload of {digest} to {repository}", response)

    async def put_blob(self, repository: str, data: bytes) -> str:
        """Monolithic upload of a small blob (POST then PUT with the body)."""
        digest = sha256_digest(data)
        response = await self._send("POST", f"/v2/{repository}/blobs/uploads/")
        if response.status_code != 202:
            raise self._fail(f"start upload to {repository}", response)
        response = await self._send(
            "PUT",
            _with_digest(self._location(response), digest),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code != 201:
            raise self._fail(f"upload {digest} to {repository}", response)
        return digest

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{response.request.method} {response.request.url}: no Location")
        return urljoin(self.base_url + "/", str(location))


def _with_digest(location: str, digest: str) -> httpx.URL:
    """The upload URL plus ``digest=``, keeping the registry's own state parameters
    (passing ``params=`` to httpx would replace them)."""
    return httpx.URL(location).copy_merge_params({"digest": digest})


def _next_link(response: httpx.Response) -> str | None:
    link = str(response.headers.get("Link", ""))
    if 'rel="next"' not in link:
        return None
    return link.split(";")[0].strip().strip("<>")


async def _rechunk(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """Regroup a byte stream into pieces of ``size`` (the last one shorter)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
