"""The seams between controllers and the outside world.

Controllers and the CLI's logic see only these Protocols; the implementations
live beside them (``adapters/etcd/`` on aetcd, later ``adapters/mesos/`` on
httpx). The split follows controller-runtime's client: a reader, a writer,
and a status writer, composed into :class:`Store`.

Objects are the typed :class:`crds.meta.Resource` subclasses. An object is
named by an :class:`ObjectKey`; ``domain`` is ``None`` for cluster-scoped kinds.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any, Protocol

from crds.common import HealthCheck, Volume
from crds.common import Port as AppPort
from crds.events import Event
from crds.meta import Resource

__all__ = [
    "TASK_ID_LABEL",
    "BlockAllocation",
    "BridgeState",
    "ContainerUsage",
    "Create",
    "Delete",
    "DockerHostEngine",
    "DockerHostReader",
    "DockerHostState",
    "EventType",
    "IpAllocation",
    "IpCandidate",
    "IpamStore",
    "LabelledContainer",
    "ListResult",
    "MesosOperator",
    "NetworkEnsured",
    "NetworkPlan",
    "ObjectKey",
    "PoolAllocations",
    "Store",
    "StoreReader",
    "StoreWriter",
    "Update",
    "UsageReader",
    "WatchEvent",
    "WriteOp",
]


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Names one object: its kind, its domain (None when cluster-scoped) and its name."""

    kind: str
    domain: str | None
    name: str

    @classmethod
    def of(cls, obj: Resource) -> ObjectKey:
        return cls(obj.kind, obj.metadata.domain, obj.metadata.name)

    def __str__(self) -> str:
        where = f"{self.domain}/" if self.domain else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass(frozen=True)
class ListResult:
    """Objects as of one etcd revision; watch from ``revision + 1`` to miss nothing."""

    items: list[Resource]
    revision: int


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class WatchEvent:
    """One change. For DELETED, ``obj`` is the last state before deletion.

    ``synthetic`` is True when the event was derived by relisting after the
    watch fell behind a compaction, rather than read from etcd's history.
    """

    type: EventType
    obj: Resource
    revision: int
    synthetic: bool = False


@dataclass(frozen=True)
class Create:
    """Create ``obj``; fails with AlreadyExists when the name is taken."""

    obj: Resource


@dataclass(frozen=True)
class Update:
    """Replace the spec side of ``obj`` (metadata and spec; status is untouched).

    When ``obj.metadata.resource_version`` is set, the write is a
    compare-and-swap against it and fails with ConflictError if stale.
    """

    obj: Resource


@dataclass(frozen=True)
class Delete:
    """Delete the object; with ``resource_version`` the delete is a compare-and-swap."""

    key: ObjectKey
    resource_version: str | None = None


WriteOp = Create | Update | Delete


class StoreReader(Protocol):
    async def get(self, key: ObjectKey) -> Resource:
        """The object with its status; NotFound if absent."""
        ...

    async def list(
        self,
        kind: str | None = None,
        *,
        domain: str | None = None,
        selector: str | None = None,
    ) -> ListResult:
        """Objects of ``kind`` (all kinds when None), in ``domain`` when given,
        matching the label ``selector`` (``app=web,tier!=db,env in (a,b),!x``)."""
        ...

    def watch(
        self,
        kind: str | None = None,
        *,
        domain: str | None = None,
        revision: int,
    ) -> AsyncIterator[WatchEvent]:
        """Changes after ``revision`` (exclusive), forever. Resumes after a
        dropped connection from the last revision seen; after compaction it
        relists and yields synthetic events for the difference."""
        ...


class StoreWriter(Protocol):
    async def commit(self, ops: Sequence[WriteOp]) -> list[Resource | None]:
        """Apply ``ops`` in as few etcd transactions as its limits allow.

        Each transaction is all-or-nothing. Returns, per op, the object as
        stored (None for a delete that removed the object). A delete of an
        object that has finalizers sets ``deletionTimestamp`` and returns it.
        """
        ...

    async def create(self, obj: Resource) -> Resource: ...

    async def update(self, obj: Resource) -> Resource: ...

    async def delete(
        self, key: ObjectKey, *, resource_version: str | None = None
    ) -> Resource | None:
        """None when the object is gone; the object when finalizers hold it."""
        ...

    async def update_status(self, obj: Resource) -> Resource:
        """Write ``obj.status`` under its own key; the spec side is untouched."""
        ...


class Store(StoreReader, StoreWriter, Protocol):
    """Reader and writer together, plus the few calls tools need."""

    async def revision(self) -> int:
        """The current etcd revision."""
        ...

    async def list_wire(
        self,
        kind: str | None = None,
        *,
        domain: str | None = None,
        selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Like ``list`` but the stored wire dicts (validated when written), for
        readers that only show objects; with the revision they were read at."""
        ...

    async def get_raw(self, path: str) -> bytes | None:
        """A value under ``<prefix>/<path>`` that is not an object (ApplySet membership)."""
        ...

    async def put_raw(self, path: str, value: bytes) -> None: ...

    async def delete_raw(self, path: str) -> None: ...

    async def record_event(self, event: Event) -> None:
        """Keep ``event`` for a while (on an etcd lease); a repeat of the same
        object and reason within that time raises its count instead."""
        ...

    async def record_events(self, events: Sequence[Event]) -> None:
        """``record_event`` for many events, in a few round trips."""
        ...

    async def events(self, key: ObjectKey | None = None) -> list[Event]:
        """Recent events, oldest first; only those about ``key`` when given."""
        ...

    async def close(self) -> None: ...


# The Mesos scheduler seam. Its wire types are only named in annotations, so
# importing this module (as every store user does) does not build the Mesos models.
if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from adapters.mesos import (
        AgentID,
        ExecutorID,
        Filters,
        FrameworkID,
        FrameworkInfo,
        KillPolicy,
        OfferID,
        OfferOperation,
        SchedulerEvent,
        TaskID,
    )
    from adapters.mesos.tasks import LaunchOperation


class MesosScheduler(Protocol):
    """One framework's subscription to the Mesos master and the calls it makes.

    Implemented by ``adapters.mesos.scheduler.MesosSchedulerClient``. Calls
    are fire-and-forget (202): their effects arrive as events on the stream.
    Ids may be wire ids (``TaskID``) or the plain strings our code keeps.
    """

    @property
    def framework_id(self) -> FrameworkID | None:
        """Assigned by the first SUBSCRIBED and kept across resubscriptions."""
        ...

    def subscribe(
        self, framework_info: FrameworkInfo, *, suppressed_roles: Sequence[str] = ()
    ) -> AsyncGenerator[SchedulerEvent, None]:
        """Events forever, resubscribing on failures; close the generator to stop.

        Every SUBSCRIBED event (the first and each after a resubscription)
        means: reconcile now. Ends with MesosRejected (SUBSCRIBE refused) or
        a MesosError when the master ends the framework (ERROR event, e.g.
        "Framework failed over")."""
        ...

    async def accept(
        self,
        offer_ids: Sequence[OfferID | str],
        operations: Sequence[OfferOperation | LaunchOperation],
        *,
        filters: Filters | None = None,
    ) -> None:
        """A :class:`LaunchOperation` (plain launches) is written without the models."""
        ...

    async def decline(
        self, offer_ids: Sequence[OfferID | str], *, filters: Filters | None = None
    ) -> None: ...

    async def revive(self, roles: Sequence[str] = ()) -> None:
        """No roles: every role of the framework."""
        ...

    async def suppress(self, roles: Sequence[str] = ()) -> None:
        """No roles: every role of the framework."""
        ...

    async def kill(
        self,
        task_id: TaskID | str,
        agent_id: AgentID | str | None = None,
        *,
        kill_policy: KillPolicy | None = None,
    ) -> None: ...

    async def acknowledge(
        self, *, agent_id: AgentID | str, task_id: TaskID | str, uuid: str
    ) -> None:
        """Only for updates that carry a ``uuid`` (reconciliation answers do not)."""
        ...

    async def reconcile(
        self, tasks: Sequence[tuple[TaskID | str, AgentID | str | None]] = ()
    ) -> None:
        """No tasks: implicit reconciliation of every non-terminal task."""
        ...

    async def teardown(self) -> None: ...

    async def message(
        self, *, agent_id: AgentID | str, executor_id: ExecutorID | str, data: bytes
    ) -> None: ...


# Leader election: one active controller manager among its replicas.


@dataclass(frozen=True)
class LeaderTerm:
    """One stretch of leadership by ``identity``.

    ``revision`` is the create revision of the leader key: every new term
    has a larger one, so writes that compare it (fencing) fail once the
    term is over, even if the deposed leader has not noticed yet.
    """

    identity: str
    revision: int


class LeaderElector(Protocol):
    """Campaigns for one election; implemented on an etcd lease by
    ``adapters.etcd.leader.EtcdLeaderElector``."""

    @property
    def identity(self) -> str: ...

    @property
    def term(self) -> LeaderTerm | None:
        """The term held now; None while not leading."""
        ...

    async def campaign(self) -> LeaderTerm:
        """Wait until this candidate leads; its new term."""
        ...

    async def hold(self, term: LeaderTerm) -> None:
        """Keep ``term`` alive; returns as soon as it is lost, never while it holds."""
        ...

    async def resign(self) -> None:
        """Give up the term (if any) now, so another candidate takes over at once."""
        ...


# Raw values in batches: the App controller's instance records and rollout state.


class RawStore(Protocol):
    """Raw values under ``<prefix>/<path>``, read by prefix and written in batches."""

    async def get_raw(self, path: str) -> bytes | None: ...

    async def list_raw(self, prefix: str) -> list[tuple[str, bytes]]:
        """Every ``(path, value)`` whose path starts with ``prefix``, sorted by path."""
        ...

    async def commit_raw(self, puts: Mapping[str, bytes], deletes: Sequence[str] = ()) -> None:
        """Write ``puts`` and delete ``deletes`` in as few etcd transactions as its
        limits allow (each one all-or-nothing)."""
        ...


# The framework's view of the Mesos wire: plain values, built and read by a codec
# (``adapters.mesos.tasks.MesosWireCodec``), so the reconciler never names a wire type.


ReservationKind = tuple[str, str | None]
"""A reservation's type (``STATIC`` or ``DYNAMIC``) and principal (None for static ones)."""


@dataclass(frozen=True)
class OfferAmounts:
    """Scalar resources and inclusive port ranges of one part of an offer."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class OfferView:
    """One Mesos offer: its allocation role, reserved and unreserved parts."""

    offer_id: str
    agent_id: str
    hostname: str
    role: str
    attributes: dict[str, str | float]
    reserved: OfferAmounts = OfferAmounts()
    unreserved: OfferAmounts = OfferAmounts()
    reservation: ReservationKind = ("STATIC", None)
    """How the reserved part is reserved: every resource of it carries this reservation."""
    agent_ip: str | None = None
    """The agent's address (the offer's ``url``), where its tasks' host ports listen."""


@dataclass(frozen=True)
class Subscribed:
    framework_id: str
    heartbeat_interval: float | None = None


@dataclass(frozen=True)
class OffersReceived:
    offers: tuple[OfferView, ...]


@dataclass(frozen=True)
class OfferRescinded:
    offer_id: str


@dataclass(frozen=True)
class TaskUpdate:
    """A task status; ``uuid`` set means reliable: acknowledge it once it is durable."""

    task_id: str
    state: str
    """The Mesos ``TaskState`` name, e.g. ``TASK_RUNNING``."""
    agent_id: str | None = None
    healthy: bool | None = None
    message: str = ""
    reason: str | None = None
    timestamp: float | None = None
    uuid: str | None = None


FrameworkEvent = Subscribed | OffersReceived | OfferRescinded | TaskUpdate


@dataclass(frozen=True)
class TaskLaunch:
    """One LAUNCH operation: a task built from an App's spec on a placed offer."""

    task_id: str
    name: str
    agent_id: str
    role: str
    reserved: bool
    """Take resources reserved for ``role`` (else unreserved ones)."""
    cpus: float
    mem: float
    disk: float
    image: str | None
    """None: a Mesos command task (no ContainerInfo) running ``command`` + ``args``."""
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    host_ports: tuple[int, ...] = ()
    """Offer ports, mapped in order to ``container_ports`` (bridge network)."""
    container_ports: tuple[AppPort, ...] = ()
    ip: str | None = None
    """The container's own address, from its pool; None: none (bridge, host ports)."""
    network: str | None = None
    """The pool's network name (its Docker network) the address belongs to."""
    pin_ip: bool = False
    """Join ``network`` as a Docker user-defined network at ``ip`` (``docker run --ip``):
    the host's Docker engine is declared, so the network exists there. False: the address
    is only a static request in ``network_infos`` and Docker's own network is bridge."""
    host_network: bool = False
    """Share the host's network (Docker HOST): no address, no port mappings."""
    volumes: tuple[Volume, ...] = ()
    health_checks: tuple[HealthCheck, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    reservation: ReservationKind = ("STATIC", None)
    """The reservation the reserved resources carry (the offer's, exactly: Mesos matches
    a task's resources against the offer's, reservation included)."""


class MesosCodec(Protocol):
    """Builds the wire values the framework sends and reads those it receives."""

    def framework_info(
        self,
        *,
        name: str,
        user: str,
        roles: Sequence[str],
        failover_timeout: float,
        checkpoint: bool,
        framework_id: str | None,
    ) -> FrameworkInfo: ...

    def decode(self, event: SchedulerEvent) -> FrameworkEvent | None:
        """The event as plain values; None for heartbeats and events the framework ignores."""
        ...

    def launch_operations(self, launches: Sequence[TaskLaunch]) -> list[OfferOperation]:
        """One LAUNCH operation carrying every task (one ACCEPT per offer)."""
        ...

    def launch_operation(self, launches: Sequence[TaskLaunch]) -> LaunchOperation:
        """The same LAUNCH kept as plain launches, for :meth:`MesosScheduler.accept`
        to write directly (the hot path: no wire models are built)."""
        ...

    def filters(self, refuse_seconds: float) -> Filters: ...


class RecordStore(Store, RawStore, Protocol):
    """A :class:`Store` that also reads and writes raw values in batches."""


# IPAM: per-host blocks of an IPPool and one IP per instance, claimed create-if-absent.


@dataclass(frozen=True)
class BlockAllocation:
    """Block ``cidr`` of ``pool`` belongs to ``host`` (for as long as the host is selected)."""

    pool: str
    cidr: IPv4Network
    host: str


@dataclass(frozen=True)
class IpAllocation:
    """Address ``ip`` of ``pool``, in ``host``'s block, held by instance ``owner``.

    ``released_at`` is set (wall-clock seconds) once the owner let it go: the
    address stays recorded, and so still belongs to its host, until another
    owner reuses it after the cooldown. ``revision`` is the store's version
    of the record, which a reuse compares so that two allocators cannot both
    take the same released address.
    """

    pool: str
    ip: IPv4Address
    host: str
    owner: str
    released_at: float | None = None
    revision: int = 0

    @property
    def held(self) -> bool:
        """True while an owner holds the address."""
        return self.released_at is None


@dataclass(frozen=True)
class PoolAllocations:
    """Every block and address recorded for one pool, read at one revision."""

    blocks: tuple[BlockAllocation, ...] = ()
    ips: tuple[IpAllocation, ...] = ()


@dataclass(frozen=True)
class IpCandidate:
    """An address to try: never given (``revision`` 0) or released at ``revision``."""

    ip: IPv4Address
    revision: int = 0


class IpamStore(Protocol):
    """The allocation records of IPPools; implemented on etcd by
    ``adapters.etcd.ipam.EtcdIpam``. Which block or address to try is the
    caller's choice (:mod:`reconciler.ipam`); the store only makes each claim
    atomic, so no block goes to two hosts and no address to two owners."""

    async def list_allocations(self, pool: str) -> PoolAllocations: ...

    async def claim_block(
        self, *, pool: str, host: str, candidates: Sequence[IPv4Network]
    ) -> IPv4Network | None:
        """``host``'s block: the one it holds, else the first candidate nobody holds;
        None when every candidate was taken meanwhile (list again and retry)."""
        ...

    async def allocate_ip(
        self, *, pool: str, host: str, owner: str, candidates: Sequence[IpCandidate]
    ) -> IPv4Address | None:
        """``owner``'s address: the one it holds, else the first candidate still as
        listed; None when every candidate was taken meanwhile."""
        ...

    async def release_ip(self, *, pool: str, owner: str, at: float) -> IPv4Address | None:
        """Mark ``owner``'s address released at ``at``; the address, None if it held none."""
        ...

    async def release_block(self, *, pool: str, host: str) -> IPv4Network | None:
        """Give ``host``'s block of ``pool`` back, with the released addresses recorded in
        it; the block, None if the host held none. ConflictError, and nothing changes,
        while an address of the block is held or the block changed meanwhile."""
        ...


# Docker host state: what a host's engine reports, as plain values for drift checks.


@dataclass(frozen=True)
class BridgeState:
    """The containers' bridge network: ``subnet`` (``--bip``'s network), ``ip_range``
    (``--fixed-cidr``, the host's block), ``gateway`` (the bridge's own address) and
    ``default_gateway`` (``--default-gateway``, the containers' route when set);
    None where unset."""

    name: str
    subnet: IPv4Network | None = None
    ip_range: IPv4Network | None = None
    gateway: IPv4Address | None = None
    default_gateway: IPv4Address | None = None


TASK_ID_LABEL = "dcos.task_id"
"""The container label carrying the Mesos task id (set by the Docker containerizer)."""


@dataclass(frozen=True)
class LabelledContainer:
    """A container carrying the platform's task label, ``ip`` on the bridge if any."""

    id: str
    name: str
    labels: Mapping[str, str]
    state: str
    ip: IPv4Address | None = None


@dataclass(frozen=True)
class DockerHostState:
    """A Docker engine's daemon options, bridge and platform containers, as observed.

    ``iptables`` and ``ip_forward`` are None when the engine does not report
    them; a None ``bridge`` means the network does not exist.
    """

    storage_driver: str
    logging_driver: str
    iptables: bool | None
    ip_forward: bool | None
    bridge: BridgeState | None
    containers: tuple[LabelledContainer, ...] = ()


class DockerHostReader(Protocol):
    """Reads one host's engine; implemented on aiodocker by ``adapters.docker_host``."""

    async def read_state(self) -> DockerHostState:
        """The engine's state now; DockerError when it cannot be read."""
        ...


# The CMDB (NetBox): servers as devices, and one IP address object per container.


class DeviceStatus(enum.StrEnum):
    """NetBox's device statuses (the ``value`` of a device's ``status``)."""

    PLANNED = "planned"
    STAGED = "staged"
    ACTIVE = "active"
    DECOMMISSIONING = "decommissioning"
    OFFLINE = "offline"
    FAILED = "failed"
    INVENTORY = "inventory"


@dataclass(frozen=True)
class CmdbDevice:
    """One server as the CMDB records it.

    ``site``, ``role`` and ``tags`` are slugs, ``rack`` the rack's name,
    ``domain`` the ``domain`` custom field, ``address`` the primary IPv4
    address (without its mask) and ``attributes`` the other custom fields
    that have a value, as strings.
    """

    id: int
    name: str
    status: DeviceStatus
    site: str | None = None
    rack: str | None = None
    role: str | None = None
    tags: tuple[str, ...] = ()
    domain: str | None = None
    address: IPv4Address | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CmdbAddress:
    """One container's address as written to the CMDB: an IP address object whose
    custom fields name the ``task`` (the key), the ``host`` it runs on and its ``app``."""

    task: str
    address: IPv4Address
    host: str
    app: str
    dns_name: str = ""


class CmdbDevices(Protocol):
    """The CMDB's servers: read by the Host controller, whose drains set their status."""

    async def list_devices(
        self,
        *,
        role: str | None = None,
        tag: str | None = None,
        statuses: Sequence[DeviceStatus] = (),
        site: str | None = None,
        domain: str | None = None,
    ) -> list[CmdbDevice]:
        """Every device matching all the filters given (any of ``statuses``), by name."""
        ...

    async def get_device(self, name: str) -> CmdbDevice:
        """The device named ``name``; CmdbRejected (status 404) when there is none."""
        ...

    async def set_device_status(self, name: str, status: DeviceStatus) -> CmdbDevice:
        """Change the device's status; the device as stored."""
        ...


class CmdbAddresses(Protocol):
    """The container addresses written back, one IP address object per task."""

    async def list_addresses(self, *, host: str | None = None) -> list[CmdbAddress]:
        """The container addresses written (those with a ``task``), on ``host`` if given."""
        ...

    async def put_address(self, address: CmdbAddress) -> None:
        """Create or update the IP address object of ``address.task`` (idempotent)."""
        ...

    async def delete_address(self, task: str) -> None:
        """Delete the IP address object of ``task``; nothing when there is none."""
        ...


class Cmdb(CmdbDevices, CmdbAddresses, Protocol):
    """The CMDB seam; implemented on NetBox's REST API by ``adapters.cmdb.NetboxCmdb``.

    Every call raises :class:`CmdbUnavailable` when the CMDB cannot be
    reached (after the client's own retries) and :class:`CmdbRejected` when
    it refuses; never a library exception.
    """


# The Host controller's view of Mesos (the operator API) and of a host's engine.

if TYPE_CHECKING:
    from adapters.mesos.model_operator import GetAgents, GetTasks


class MesosOperator(Protocol):
    """The operator calls the Host controller makes; implemented by
    ``adapters.mesos.operator.MesosOperatorClient``. Errors are MesosError."""

    async def get_agents(self) -> GetAgents: ...

    async def get_tasks(self) -> GetTasks: ...

    async def drain_agent(
        self,
        agent_id: AgentID | str,
        *,
        max_grace_period: float | None = None,
        mark_gone: bool = False,
    ) -> None:
        """Kill the agent's tasks and stop offering it (DRAIN_AGENT)."""
        ...

    async def reactivate_agent(self, agent_id: AgentID | str) -> None:
        """Undo DRAIN_AGENT (REACTIVATE_AGENT)."""
        ...


@dataclass(frozen=True)
class NetworkPlan:
    """A bridge network a host's engine must have: the pool's ``subnet``, the host's
    block as ``ip_range``, the pool's ``gateway``, and labels naming who made it."""

    name: str
    subnet: IPv4Network
    ip_range: IPv4Network
    gateway: IPv4Address
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkEnsured:
    """What :meth:`DockerHostEngine.ensure_network` found: the network as the engine
    reports it, and whether this call created it."""

    observed: BridgeState
    created: bool


class DockerHostEngine(DockerHostReader, Protocol):
    """A host's engine as the Host controller uses it: read, ensure the pool's
    network (created when missing, never changed), close."""

    async def ensure_network(self, plan: NetworkPlan) -> NetworkEnsured:
        """Create ``plan`` when no network of that name exists; else report the
        existing one as it is (the caller compares). DockerError on failure."""
        ...

    async def close(self) -> None: ...


# Container usage: what a ScalingPolicy's metric rule reads.


@dataclass(frozen=True)
class ContainerUsage:
    """One running container's usage over its reader's last sample interval.

    ``task_id`` is its Mesos task id; ``cpus_used`` the CPUs it kept busy on
    average (1.0: one core) and ``mem_bytes`` its resident memory, None until
    known (CPU needs two samples). ``cpus_limit`` and ``mem_limit_bytes`` are
    the limits it runs under when the reader knows them (a Mesos agent does; a
    Docker container started without limits has none), else None.
    """

    task_id: str
    cpus_used: float | None
    mem_bytes: int | None
    cpus_limit: float | None = None
    mem_limit_bytes: int | None = None


class UsageReader(Protocol):
    """Reads containers' usage: the Mesos agents' ``/monitor/statistics``
    (``adapters.mesos.monitor``) or a Docker engine's stats (``adapters.docker_host``)."""

    async def usage(self, task_prefix: str) -> Sequence[ContainerUsage]:
        """The running containers whose task id starts with ``task_prefix``;
        MesosUnavailable or DockerError when nothing could be read."""
        ...
