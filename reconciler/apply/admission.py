"""Admission checks: refuse an update before anything is written.

:func:`reconciler.apply.apply_manifests` calls every check it is given for
each object it is about to update, with the live object and the merged one;
a check refuses by raising :class:`crds.errors.SpecError` naming the file,
and then nothing of the apply is written (a dry run is refused the same way).

- :class:`IPPoolAdmission` — an IPPool spec change that would strand blocks
  or held addresses (:func:`reconciler.ipam.check_pool_change`); it reads
  the pool's allocations through an :class:`adapters.protocols.IpamStore`.
- :class:`FreezeAdmission` — an App change other than ``instances`` while
  its Domain is in a freeze window (:mod:`reconciler.scaling.freeze`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from adapters.protocols import IpamStore, ObjectKey, StoreReader
from crds.app import App
from crds.domain import Domain
from crds.errors import NotFound, SpecError
from crds.ippool import IPPool
from crds.meta import Resource
from reconciler.apply.manifests import Manifest
from reconciler.ipam import check_pool_change
from reconciler.scaling.freeze import active_freeze

__all__ = ["AdmissionCheck", "FreezeAdmission", "IPPoolAdmission"]

AdmissionCheck = Callable[[Manifest, Resource, Resource], Awaitable[None]]
"""``check(manifest, live, new)``: raises SpecError to refuse updating ``live`` to ``new``."""


class IPPoolAdmission:
    """Refuses an IPPool spec change that would strand allocated blocks or addresses."""

    def __init__(self, ipam: IpamStore) -> None:
        self._ipam = ipam

    async def __call__(self, manifest: Manifest, live: Resource, new: Resource) -> None:
        if not isinstance(live, IPPool) or not isinstance(new, IPPool) or live.spec == new.spec:
            return
        name = new.metadata.name
        allocations = await self._ipam.list_allocations(name)
        check = check_pool_change(live.spec, new.spec, allocations)
        if not check.ok:
            raise SpecError(check.message(name), source=manifest.source, document=manifest.document)


class FreezeAdmission:
    """Refuses an App change other than ``spec.instances`` while its Domain is frozen.

    ``now`` gives the current time (timezone-aware); ``store`` reads the Domain.
    The refusal is one line naming the window and when it ends.
    """

    def __init__(self, store: StoreReader, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    async def __call__(self, manifest: Manifest, live: Resource, new: Resource) -> None:
        if not isinstance(live, App) or not isinstance(new, App):
            return
        if live.spec.model_copy(update={"instances": new.spec.instances}) == new.spec:
            return
        domain_name = new.metadata.domain
        if domain_name is None:
            return
        try:
            domain = await self._store.get(ObjectKey("Domain", None, domain_name))
        except NotFound:
            return
        if not isinstance(domain, Domain):
            return
        freeze = active_freeze(domain, self._now())
        if freeze is None:
            return
        raise SpecError(
            f"App {domain_name}/{new.metadata.name}: refused: domain {domain_name} is frozen "
            f"by {freeze.describe()} (only instances may change)",
            source=manifest.source,
        )
