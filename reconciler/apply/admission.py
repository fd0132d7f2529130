"""Admission checks: refuse an update before anything is written.

:func:`reconciler.apply.apply_manifests` calls every check it is given for
each object it is about to update, with the live object and the merged one;
a check refuses by raising :class:`crds.errors.SpecError` naming the file,
and then nothing of the apply is written (a dry run is refused the same way).

- :class:`IPPoolAdmission` — an IPPool spec change that would strand blocks
  or held addresses (:func:`reconciler.ipam.check_pool_change`); it reads
  the pool's allocations through an :class:`adapters.protocols.IpamStore`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapters.protocols import IpamStore
from crds.errors import SpecError
from crds.ippool import IPPool
from crds.meta import Resource
from reconciler.apply.manifests import Manifest
from reconciler.ipam import check_pool_change

__all__ = ["AdmissionCheck", "IPPoolAdmission"]

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
