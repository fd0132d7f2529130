"""AgentSet: one container on every matching host, like a Kubernetes DaemonSet.

The platform runs per-host sidecar agents next to the apps: the service
proxy, the log shippers (logstash, flume) and the monitoring agent. An
AgentSet declares one of them: its container template and the hosts it runs
on. The AgentSet controller launches one instance per Active host that
matches ``hostSelector``, removes it from hosts that stop matching, and rolls
a changed template ``updateStrategy.maxUnavailable`` hosts at a time. Agent
containers run in the system domain, on the slice each host reserves for
the role ``dcos-system``, and count against no business domain's quota;
Apps outside the system domain land on a host only once its agents are
ready.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from crds.app import ContainerNetwork
from crds.common import EnvMap, ImageRef, LabelSelector, MemoryMiB, Volume
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = [
    "AgentHostStatus",
    "AgentNetwork",
    "AgentSet",
    "AgentSetSpec",
    "AgentSetStatus",
    "AgentUpdateStrategy",
    "ContainerTemplate",
]

_PERCENT = re.compile(r"^([1-9][0-9]?|100)%$")


AgentNetwork = ContainerNetwork
"""host or bridge, as for an App (``App.spec.network``)."""


class ContainerTemplate(DcosModel):
    """The container started on each host."""

    image: ImageRef
    """Docker image: [registry[:port]/]repo[:tag][@sha256:digest]."""
    command: list[str] | None = None
    """Replaces the image's entrypoint."""
    args: list[str] | None = None
    """Replaces the image's default arguments (cmd)."""
    env: EnvMap = Field(default_factory=dict)
    """Environment variables."""
    volumes: list[Volume] = Field(default_factory=list)
    """Host directories mounted into the container, e.g. /data/logs read-only for a shipper."""
    cpus: float = Field(default=0.5, gt=0)
    """CPU shares."""
    mem: MemoryMiB = 256
    """Memory in MiB; "512Mi" is accepted."""
    network: AgentNetwork = AgentNetwork.HOST
    """host: share the host's network (the usual choice for agents); bridge: take an
    address from the host's block like an app instance."""
    privileged: bool = False
    """Run with all capabilities, e.g. for a monitoring agent reading host devices."""


class AgentUpdateStrategy(DcosModel):
    """How a changed template reaches the hosts."""

    max_unavailable: int | str = 1
    """Hosts whose agent may be down at once during an update: a number (at least 1)
    or a share of the matching hosts such as "10%" (rounded down, at least 1)."""

    @field_validator("max_unavailable")
    @classmethod
    def _count_or_percent(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"maxUnavailable {value} must be at least 1")
        if isinstance(value, str) and not _PERCENT.fullmatch(value):
            raise ValueError(f"maxUnavailable {value!r} must be a number or a percentage 1%-100%")
        return value

    def resolve(self, hosts: int) -> int:
        """The number of hosts that may be updated at once, out of ``hosts``."""
        if isinstance(self.max_unavailable, int):
            return self.max_unavailable
        return max(1, hosts * int(self.max_unavailable.rstrip("%")) // 100)


class AgentSetSpec(DcosModel):
    """The agent's container and the hosts it runs on."""

    template: ContainerTemplate
    """The container started on each host."""
    host_selector: LabelSelector = LabelSelector()
    """Hosts that run the agent, by label; empty selects every host."""
    update_strategy: AgentUpdateStrategy = AgentUpdateStrategy()
    """How a changed template reaches the hosts."""


class AgentHostStatus(DcosModel):
    """The agent of one host."""

    host: str
    """The Host's name."""
    app: str
    """The App in domain dcos-system that runs the agent there."""
    template: str
    """Hash of the template the App runs (status.templateHash when up to date)."""
    ready: bool = False
    """The agent's container is running and healthy at the App's current version."""


class AgentSetStatus(Status):
    """What the AgentSet controller observed."""

    desired: int | None = None
    """Active hosts that match the selector."""
    ready: int | None = None
    """Hosts whose agent is running."""
    updated: int | None = None
    """Hosts whose agent runs the current template."""
    template_hash: str | None = None
    """Hash of the current template; an agent whose template differs is updated."""
    hosts: list[AgentHostStatus] = Field(default_factory=list)
    """Per host: its agent's App, template hash and readiness, by host name."""


@register
class AgentSet(Resource):
    """A per-host agent: one container on every matching host."""

    SCOPE: ClassVar[Scope] = Scope.CLUSTER
    PLURAL: ClassVar[str] = "agentsets"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("agentset", "as")
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="DESIRED", path="status.desired"),
        PrinterColumn(name="READY", path="status.ready"),
        PrinterColumn(name="UP-TO-DATE", path="status.updated"),
        PrinterColumn(name="IMAGE", path="spec.template.image", wide=True),
        PrinterColumn(name="NETWORK", path="spec.template.network", wide=True),
    )

    kind: Literal["AgentSet"] = "AgentSet"
    """Always AgentSet."""
    spec: AgentSetSpec
    """The agent's container and the hosts it runs on."""
    status: AgentSetStatus = AgentSetStatus()
    """What the AgentSet controller observed."""
