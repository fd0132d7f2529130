"""The CMDB mirror: devices read from the CMDB, written into Host specs.

:class:`CmdbMirror` runs while the controller manager leads (a leader-only
runnable): it syncs at the start of each term and then every
``interval`` seconds. One sync lists the devices (the role and tag
filters of :class:`MirrorSettings`), and for each one:

- a Host of the same name gets the CMDB-owned fields of its spec
  (:func:`reconciler.hosts.cmdb.mirror_spec`), written only when they
  differ, as a compare-and-swap on the Host's resourceVersion; a
  ``CmdbSynced`` event names the fields that changed;
- a device without a Host becomes one when it carries its resources as
  custom fields (``CreatedFromCmdb`` event); else a Warning event on
  ``Host/<device>`` (the name the Host would have) and a warning line in
  the controller's log say why, once per term and device. Devices that
  are not in service (planned, staged, inventory, failed) are skipped.

After every attempt the Host controller is asked to reconcile every Host:
it writes ``status.lastCmdbSync`` and the ``CmdbReachable`` condition
from :attr:`CmdbMirror.last_sync` and :attr:`CmdbMirror.error`. A CMDB
that cannot be read is retried with exponential backoff (from
``backoff_initial`` up to the interval); nothing is written to the Hosts
meanwhile but that condition, and the next successful sync catches up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from adapters.protocols import CmdbDevice, CmdbDevices, ObjectKey, Store
from crds.errors import AlreadyExists, CmdbError, ConflictError, DcosError
from crds.events import EventKind
from crds.host import Host, HostSpec
from crds.meta import ObjectMeta
from reconciler.hosts.cmdb import changed_fields, host_from_device, mirror_spec
from reconciler.runtime import Informer, Recorder

__all__ = ["CmdbMirror", "MirrorSettings"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MirrorSettings:
    """How the CMDB is mirrored."""

    interval: float = 30.0
    """Seconds between two syncs."""
    role: str | None = None
    """Only devices of this role (NetBox slug), e.g. container-host."""
    tag: str | None = None
    """Only devices with this tag (NetBox slug)."""
    backoff_initial: float = 0.5
    """Seconds before the first retry after a failed sync; doubled each retry."""


class CmdbMirror:
    """Mirrors the CMDB's devices into Host specs (see the module docstring)."""

    def __init__(
        self,
        *,
        cmdb: CmdbDevices,
        store: Store,
        hosts: Informer,
        recorder: Recorder,
        settings: MirrorSettings | None = None,
        on_sync: Callable[[], None] = lambda: None,
        wall: Callable[[], datetime] = _utcnow,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._cmdb = cmdb
        self._store = store
        self._hosts = hosts
        self._recorder = recorder
        self.settings = settings or MirrorSettings()
        self.on_sync = on_sync
        self._wall = wall
        self._sleep = sleep
        self.last_sync: datetime | None = None
        """When the devices were last read."""
        self.error: str | None = None
        """Why the last sync failed to read the CMDB; None once one succeeded."""
        self.devices: dict[str, CmdbDevice] = {}
        """The devices of the last successful sync, by name."""
        self._reported: set[str] = set()  # devices reported this term (no Host, not created)
        self.syncs = 0  # successful syncs, for tests and metrics

    def device(self, name: str) -> CmdbDevice | None:
        return self.devices.get(name)

    def observed(self, device: CmdbDevice) -> None:
        """Remember ``device`` as the controller just wrote it (set offline)."""
        self.devices[device.name] = device

    async def run(self) -> None:
        """Sync now, then every ``interval``; failures back off. Runs until cancelled."""
        self._reported.clear()
        delay = self.settings.backoff_initial
        while True:
            wait = self.settings.interval
            try:
                await self.sync()
                delay = self.settings.backoff_initial
            except CmdbError as exc:
                self.error = str(exc)
                logger.warning("CMDB sync failed (retry in %.1fs): %s", delay, exc)
                wait, delay = delay, min(delay * 2, self.settings.interval)
            except DcosError as exc:
                logger.warning("CMDB sync: writing Hosts failed (retry in %.1fs): %s", delay, exc)
                wait, delay = delay, min(delay * 2, self.settings.interval)
            self.on_sync()
            await self._sleep(wait)

    async def sync(self) -> None:
        """One sync: list the devices, mirror each; CmdbError when the CMDB fails."""
        devices = await self._cmdb.list_devices(role=self.settings.role, tag=self.settings.tag)
        self.devices = {d.name: d for d in devices}
        self.last_sync = self._wall()
        self.error = None
        self.syncs += 1
        for device in devices:
            host = self._hosts.get(ObjectKey("Host", None, device.name))
            if isinstance(host, Host):
                await self._mirror(host, device)
            else:
                await self._create(device)

    async def _mirror(self, host: Host, device: CmdbDevice) -> None:
        for attempt in range(2):
            spec = mirror_spec(host.spec, device)
            if spec == host.spec:
                return
            try:
                await self._store.update(host.model_copy(update={"spec": spec}))
            except ConflictError:
                if attempt:
                    raise
                fresh = await self._store.get(ObjectKey.of(host))
                if not isinstance(fresh, Host):
                    return
                host = fresh
                continue
            fields = changed_fields(host.spec, spec)
            message = "from CMDB device: " + ", ".join(
                f"{name} {_value(spec, name)}" for name in fields
            )
            logger.info("Host %s: %s", host.metadata.name, message)
            self._recorder.emit(host, EventKind.NORMAL, "CmdbSynced", message)
            return

    async def _create(self, device: CmdbDevice) -> None:
        creation = host_from_device(device)
        if creation.host is not None:
            try:
                created = await self._store.create(creation.host)
            except AlreadyExists:
                return  # applied meanwhile: mirrored at the next sync
            logger.info("Host %s created from the CMDB", device.name)
            self._recorder.emit(
                created, EventKind.NORMAL, "CreatedFromCmdb", f"from CMDB device {device.name}"
            )
            return
        if creation.reason == "NotInService" or device.name in self._reported:
            return
        self._reported.add(device.name)
        logger.warning("%s", creation.message)
        # the Host does not exist: the event names the object it would be
        placeholder = Host.model_construct(
            metadata=ObjectMeta(name=device.name), spec=cast(HostSpec, None)
        )
        self._recorder.emit(placeholder, EventKind.WARNING, creation.reason, creation.message)


def _value(spec: object, dotted: str) -> str:
    value = spec
    for part in dotted.split("."):
        value = getattr(value, part)
    return "(none)" if value is None else str(value)
