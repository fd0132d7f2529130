"""The rollout gate: an App whose image comes from a RegistryMirror does not
launch new-version instances until the image is on every ready replica.

The image's tag is resolved to a digest on the primary (the first ready
replica); the gate opens when every ready replica answers HEAD for that digest.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.registry import RegistryClient

__all__ = ["GateResult", "GateVerdict", "gate_verdict", "image_on_replicas", "split_image"]


class GateVerdict(enum.StrEnum):
    OPEN = "Open"
    """Launch the new version."""
    WAIT = "Wait"
    """Hold the new version's launches; check again."""
    FAILED = "Failed"
    """Waited ``gateTimeoutSeconds``: the rollout fails (condition and event)."""


def gate_verdict(
    result: GateResult, *, waiting_since: datetime, now: datetime, timeout_seconds: int
) -> GateVerdict:
    """What the App controller does with a rollout whose image is ``result``."""
    if result.open:
        return GateVerdict.OPEN
    if now - waiting_since >= timedelta(seconds=timeout_seconds):
        return GateVerdict.FAILED
    return GateVerdict.WAIT


@dataclass(frozen=True)
class GateResult:
    open: bool
    digest: str | None
    missing_on: tuple[str, ...]
    """Replica URLs lacking the digest."""


def split_image(image: str) -> tuple[str, str, str] | None:
    """``host[:port]/repo/path[:tag|@digest]`` -> (host, repository, reference);
    None when the reference names no registry host (a Docker Hub image)."""
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        return None
    if "@" in rest:
        repository, _, reference = rest.partition("@")
    else:
        repository, _, reference = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
        if "/" in reference:  # the colon was not a tag separator
            repository, reference = rest, "latest"
    return first, repository, reference or "latest"


async def image_on_replicas(
    replicas: Sequence[RegistryClient], repository: str, reference: str
) -> GateResult:
    """Whether ``repository:reference`` (resolved on ``replicas[0]``) is on all."""
    if not replicas:
        return GateResult(open=False, digest=None, missing_on=())
    digest = (
        reference
        if reference.startswith("sha256:")
        else await replicas[0].manifest_digest(repository, reference)
    )
    if digest is None:
        return GateResult(open=False, digest=None, missing_on=(replicas[0].base_url,))
    missing: list[str] = [
        client.base_url
        for client in replicas
        if await client.manifest_digest(repository, digest) is None
    ]
    return GateResult(open=not missing, digest=digest, missing_on=tuple(missing))
