"""Our models against the ``.proto`` files: same field names, same enum values.

The reference protos are read from ``shared/reference/mesos/proto`` next to the
repository; the tests skip when that directory is not there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import adapters.mesos as mesos
from adapters.mesos.model_base import ProtoEnum

PROTO_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "mesos" / "proto"

pytestmark = pytest.mark.skipif(not PROTO_DIR.is_dir(), reason="reference protos not present")

_TOKEN = re.compile(r"[A-Za-z_][\w.]*|<[^>]*>|[{};=\[\]]|\d+|\"[^\"]*\"")


def _strip(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def parse_proto(text: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``{"Outer.Inner": [field names]}`` and ``{"Outer.Enum": [value names]}``."""
    messages: dict[str, list[str]] = {}
    enums: dict[str, list[str]] = {}
    stack: list[tuple[str, str]] = []  # (kind, dotted name) of open blocks
    tokens = _TOKEN.findall(_strip(text))
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        scope = stack[-1] if stack else ("", "")
        if tok in ("message", "enum", "oneof") and i + 2 < len(tokens) and tokens[i + 2] == "{":
            name = tokens[i + 1]
            if tok == "oneof":
                stack.append(("oneof", scope[1]))
            else:
                dotted = f"{scope[1]}.{name}" if scope[1] else name
                (messages if tok == "message" else enums)[dotted] = []
                stack.append((tok, dotted))
            i += 3
            continue
        if tok == "[":  # field options: [default = ..., deprecated = true]
            i = tokens.index("]", i) + 1
            continue
        if tok == "}":
            if stack:
                stack.pop()
        elif tok == "=" and scope[0] in ("message", "oneof"):
            messages[scope[1]].append(tokens[i - 1])
        elif tok == "=" and scope[0] == "enum":
            enums[scope[1]].append(tokens[i - 1])
        i += 1
    return messages, enums


def load(name: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    return parse_proto((PROTO_DIR / name).read_text())


# (our class, proto file, message) for every message we model.
MESSAGES: list[tuple[type[BaseModel], str, str]] = [
    (mesos.FrameworkID, "mesos.proto", "FrameworkID"),
    (mesos.ContainerID, "mesos.proto", "ContainerID"),
    (mesos.TimeInfo, "mesos.proto", "TimeInfo"),
    (mesos.Address, "mesos.proto", "Address"),
    (mesos.URL, "mesos.proto", "URL"),
    (mesos.Unavailability, "mesos.proto", "Unavailability"),
    (mesos.MachineID, "mesos.proto", "MachineID"),
    (mesos.FrameworkInfo, "mesos.proto", "FrameworkInfo"),
    (mesos.HealthCheck, "mesos.proto", "HealthCheck"),
    (mesos.HTTPCheckInfo, "mesos.proto", "HealthCheck.HTTPCheckInfo"),
    (mesos.TCPCheckInfo, "mesos.proto", "HealthCheck.TCPCheckInfo"),
    (mesos.CheckInfo, "mesos.proto", "CheckInfo"),
    (mesos.KillPolicy, "mesos.proto", "KillPolicy"),
    (mesos.CommandInfo, "mesos.proto", "CommandInfo"),
    (mesos.CommandURI, "mesos.proto", "CommandInfo.URI"),
    (mesos.ExecutorInfo, "mesos.proto", "ExecutorInfo"),
    (mesos.DomainInfo, "mesos.proto", "DomainInfo"),
    (mesos.MasterInfo, "mesos.proto", "MasterInfo"),
    (mesos.AgentInfo, "mesos.proto", "AgentInfo"),
    (mesos.Scalar, "mesos.proto", "Value.Scalar"),
    (mesos.Range, "mesos.proto", "Value.Range"),
    (mesos.Ranges, "mesos.proto", "Value.Ranges"),
    (mesos.ValueSet, "mesos.proto", "Value.Set"),
    (mesos.Attribute, "mesos.proto", "Attribute"),
    (mesos.Resource, "mesos.proto", "Resource"),
    (mesos.AllocationInfo, "mesos.proto", "Resource.AllocationInfo"),
    (mesos.ReservationInfo, "mesos.proto", "Resource.ReservationInfo"),
    (mesos.DiskInfo, "mesos.proto", "Resource.DiskInfo"),
    (mesos.DiskPersistence, "mesos.proto", "Resource.DiskInfo.Persistence"),
    (mesos.DiskSource, "mesos.proto", "Resource.DiskInfo.Source"),
    (mesos.Request, "mesos.proto", "Request"),
    (mesos.Offer, "mesos.proto", "Offer"),
    (mesos.OfferOperation, "mesos.proto", "Offer.Operation"),
    (mesos.OperationLaunch, "mesos.proto", "Offer.Operation.Launch"),
    (mesos.OperationLaunchGroup, "mesos.proto", "Offer.Operation.LaunchGroup"),
    (mesos.OperationReserve, "mesos.proto", "Offer.Operation.Reserve"),
    (mesos.OperationUnreserve, "mesos.proto", "Offer.Operation.Unreserve"),
    (mesos.OperationCreate, "mesos.proto", "Offer.Operation.Create"),
    (mesos.OperationDestroy, "mesos.proto", "Offer.Operation.Destroy"),
    (mesos.OperationGrowVolume, "mesos.proto", "Offer.Operation.GrowVolume"),
    (mesos.OperationShrinkVolume, "mesos.proto", "Offer.Operation.ShrinkVolume"),
    (mesos.OperationCreateDisk, "mesos.proto", "Offer.Operation.CreateDisk"),
    (mesos.OperationDestroyDisk, "mesos.proto", "Offer.Operation.DestroyDisk"),
    (mesos.InverseOffer, "mesos.proto", "InverseOffer"),
    (mesos.TaskInfo, "mesos.proto", "TaskInfo"),
    (mesos.TaskGroupInfo, "mesos.proto", "TaskGroupInfo"),
    (mesos.Task, "mesos.proto", "Task"),
    (mesos.UUID, "mesos.proto", "UUID"),
    (mesos.Operation, "mesos.proto", "Operation"),
    (mesos.OperationStatus, "mesos.proto", "OperationStatus"),
    (mesos.TaskStatus, "mesos.proto", "TaskStatus"),
    (mesos.Filters, "mesos.proto", "Filters"),
    (mesos.Environment, "mesos.proto", "Environment"),
    (mesos.EnvironmentVariable, "mesos.proto", "Environment.Variable"),
    (mesos.Parameter, "mesos.proto", "Parameter"),
    (mesos.Image, "mesos.proto", "Image"),
    (mesos.Volume, "mesos.proto", "Volume"),
    (mesos.NetworkInfo, "mesos.proto", "NetworkInfo"),
    (mesos.IPAddress, "mesos.proto", "NetworkInfo.IPAddress"),
    (mesos.ContainerInfo, "mesos.proto", "ContainerInfo"),
    (mesos.DockerInfo, "mesos.proto", "ContainerInfo.DockerInfo"),
    (mesos.DockerPortMapping, "mesos.proto", "ContainerInfo.DockerInfo.PortMapping"),
    (mesos.ContainerStatus, "mesos.proto", "ContainerStatus"),
    (mesos.Labels, "mesos.proto", "Labels"),
    (mesos.Label, "mesos.proto", "Label"),
    (mesos.Port, "mesos.proto", "Port"),
    (mesos.DiscoveryInfo, "mesos.proto", "DiscoveryInfo"),
    (mesos.WeightInfo, "mesos.proto", "WeightInfo"),
    (mesos.VersionInfo, "mesos.proto", "VersionInfo"),
    (mesos.Role, "mesos.proto", "Role"),
    (mesos.FileInfo, "mesos.proto", "FileInfo"),
    (mesos.DrainConfig, "mesos.proto", "DrainConfig"),
    (mesos.DrainInfo, "mesos.proto", "DrainInfo"),
    (mesos.QuotaConfig, "quota.proto", "QuotaConfig"),
    (mesos.QuotaStatus, "quota.proto", "QuotaStatus"),
    (mesos.QuotaInfo, "quota.proto", "QuotaInfo"),
    (mesos.Window, "maintenance.proto", "Window"),
    (mesos.Schedule, "maintenance.proto", "Schedule"),
    (mesos.ClusterStatus, "maintenance.proto", "ClusterStatus"),
    (mesos.SchedulerCall, "scheduler.proto", "Call"),
    (mesos.CallSubscribe, "scheduler.proto", "Call.Subscribe"),
    (mesos.CallAccept, "scheduler.proto", "Call.Accept"),
    (mesos.CallDecline, "scheduler.proto", "Call.Decline"),
    (mesos.CallRevive, "scheduler.proto", "Call.Revive"),
    (mesos.CallKill, "scheduler.proto", "Call.Kill"),
    (mesos.CallShutdown, "scheduler.proto", "Call.Shutdown"),
    (mesos.CallAcknowledge, "scheduler.proto", "Call.Acknowledge"),
    (mesos.CallAcknowledgeOperationStatus, "scheduler.proto", "Call.AcknowledgeOperationStatus"),
    (mesos.CallReconcile, "scheduler.proto", "Call.Reconcile"),
    (mesos.ReconcileTask, "scheduler.proto", "Call.Reconcile.Task"),
    (mesos.CallMessage, "scheduler.proto", "Call.Message"),
    (mesos.CallRequest, "scheduler.proto", "Call.Request"),
    (mesos.CallSuppress, "scheduler.proto", "Call.Suppress"),
    (mesos.CallUpdateFramework, "scheduler.proto", "Call.UpdateFramework"),
    (mesos.SchedulerEvent, "scheduler.proto", "Event"),
    (mesos.EventSubscribed, "scheduler.proto", "Event.Subscribed"),
    (mesos.EventOffers, "scheduler.proto", "Event.Offers"),
    (mesos.EventRescind, "scheduler.proto", "Event.Rescind"),
    (mesos.EventUpdate, "scheduler.proto", "Event.Update"),
    (mesos.EventMessage, "scheduler.proto", "Event.Message"),
    (mesos.EventFailure, "scheduler.proto", "Event.Failure"),
    (mesos.EventError, "scheduler.proto", "Event.Error"),
    (mesos.OperatorCall, "master.proto", "Call"),
    (mesos.ReserveResourcesCall, "master.proto", "Call.ReserveResources"),
    (mesos.UnreserveResourcesCall, "master.proto", "Call.UnreserveResources"),
    (mesos.UpdateMaintenanceScheduleCall, "master.proto", "Call.UpdateMaintenanceSchedule"),
    (mesos.StartMaintenanceCall, "master.proto", "Call.StartMaintenance"),
    (mesos.DrainAgentCall, "master.proto", "Call.DrainAgent"),
    (mesos.DeactivateAgentCall, "master.proto", "Call.DeactivateAgent"),
    (mesos.UpdateQuotaCall, "master.proto", "Call.UpdateQuota"),
    (mesos.ReadFileCall, "master.proto", "Call.ReadFile"),
    (mesos.OperatorResponse, "master.proto", "Response"),
    (mesos.GetState, "master.proto", "Response.GetState"),
    (mesos.GetAgents, "master.proto", "Response.GetAgents"),
    (mesos.GetAgentsAgent, "master.proto", "Response.GetAgents.Agent"),
    (mesos.GetFrameworks, "master.proto", "Response.GetFrameworks"),
    (mesos.GetFrameworksFramework, "master.proto", "Response.GetFrameworks.Framework"),
    (mesos.GetExecutorsExecutor, "master.proto", "Response.GetExecutors.Executor"),
    (mesos.GetTasks, "master.proto", "Response.GetTasks"),
    (mesos.GetMaster, "master.proto", "Response.GetMaster"),
    (mesos.GetQuota, "master.proto", "Response.GetQuota"),
    (mesos.OperatorEvent, "master.proto", "Event"),
    (mesos.OperatorSubscribed, "master.proto", "Event.Subscribed"),
    (mesos.TaskUpdated, "master.proto", "Event.TaskUpdated"),
    (mesos.AgentAdded, "master.proto", "Event.AgentAdded"),
    (mesos.FrameworkRemoved, "master.proto", "Event.FrameworkRemoved"),
]


def wire_names(cls: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in cls.model_fields.items()}


@pytest.mark.parametrize(
    ("cls", "proto", "message"), MESSAGES, ids=[f"{p}:{m}" for _, p, m in MESSAGES]
)
def test_model_fields_are_the_proto_fields(cls: type[BaseModel], proto: str, message: str) -> None:
    messages, _ = load(proto)

    assert wire_names(cls) == set(messages[message])


def test_required_fields_follow_the_proto() -> None:
    text = _strip((PROTO_DIR / "mesos.proto").read_text())
    body = re.search(r"message TaskStatus \{(.*?)\n\}", text, re.S)
    assert body is not None
    required = set(re.findall(r"required \S+ (\w+) =", body.group(1)))

    assert required == {n for n, f in mesos.TaskStatus.model_fields.items() if f.is_required()}


ENUMS: list[tuple[type[ProtoEnum], str, str]] = [
    (mesos.TaskState, "mesos.proto", "TaskState"),
    (mesos.TaskStatusSource, "mesos.proto", "TaskStatus.Source"),
    (mesos.TaskStatusReason, "mesos.proto", "TaskStatus.Reason"),
    (mesos.ValueType, "mesos.proto", "Value.Type"),
    (mesos.OfferOperationType, "mesos.proto", "Offer.Operation.Type"),
    (mesos.FrameworkCapabilityType, "mesos.proto", "FrameworkInfo.Capability.Type"),
    (mesos.AgentCapabilityType, "mesos.proto", "AgentInfo.Capability.Type"),
    (mesos.MasterCapabilityType, "mesos.proto", "MasterInfo.Capability.Type"),
    (mesos.ReservationType, "mesos.proto", "Resource.ReservationInfo.Type"),
    (mesos.ContainerType, "mesos.proto", "ContainerInfo.Type"),
    (mesos.DockerNetwork, "mesos.proto", "ContainerInfo.DockerInfo.Network"),
    (mesos.VolumeMode, "mesos.proto", "Volume.Mode"),
    (mesos.NetworkProtocol, "mesos.proto", "NetworkInfo.Protocol"),
    (mesos.HealthCheckType, "mesos.proto", "HealthCheck.Type"),
    (mesos.OperationState, "mesos.proto", "OperationState"),
    (mesos.DrainState, "mesos.proto", "DrainState"),
    (mesos.SchedulerCallType, "scheduler.proto", "Call.Type"),
    (mesos.SchedulerEventType, "scheduler.proto", "Event.Type"),
    (mesos.OperatorCallType, "master.proto", "Call.Type"),
    (mesos.OperatorResponseType, "master.proto", "Response.Type"),
    (mesos.OperatorEventType, "master.proto", "Event.Type"),
]


@pytest.mark.parametrize(("enum", "proto", "name"), ENUMS, ids=[e.__name__ for e, _, _ in ENUMS])
def test_enum_values_are_the_proto_values(enum: type[ProtoEnum], proto: str, name: str) -> None:
    _, enums = load(proto)

    assert [m.value for m in enum] == enums[name]


@pytest.mark.parametrize(
    "union",
    [mesos.SchedulerCall, mesos.SchedulerEvent, mesos.OperatorResponse, mesos.OperatorEvent],
)
def test_every_union_type_has_its_body_field(union: type[mesos.TypedUnion]) -> None:
    kind = union.model_fields["type"].annotation
    assert isinstance(kind, type) and issubclass(kind, ProtoEnum)
    bodyless = {t for t in kind if t.lower() not in union.model_fields}

    assert bodyless <= union.BODYLESS
