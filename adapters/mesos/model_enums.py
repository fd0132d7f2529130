"""Every proto enum the v1 scheduler and operator APIs use, as name strings.

Transcribed from ``mesos.proto``, ``scheduler.proto`` and
``master.proto`` (member order follows the proto). Nested proto enums are
flattened: ``TaskStatus.Reason`` is :class:`TaskStatusReason`,
``scheduler.Call.Type`` is :class:`SchedulerCallType`, ``master.Call.Type`` is
:class:`OperatorCallType`. All derive from :class:`ProtoEnum`, so a value a
newer master adds parses as a pseudo-member instead of failing the message.

:data:`TERMINAL_TASK_STATES` mirrors the master's ``isTerminalState``.
"""

from __future__ import annotations

from adapters.mesos.model_base import ProtoEnum

__all__ = [
    "TERMINAL_TASK_STATES",
    "AgentCapabilityType",
    "CheckType",
    "ContainerType",
    "DiscoveryVisibility",
    "DiskSourceType",
    "DockerNetwork",
    "DrainState",
    "EnvironmentVariableType",
    "ExecutorType",
    "FrameworkCapabilityType",
    "HealthCheckType",
    "ImageType",
    "MachineMode",
    "MasterCapabilityType",
    "NetworkProtocol",
    "OfferOperationType",
    "OperationState",
    "OperatorCallType",
    "OperatorEventType",
    "OperatorResponseType",
    "ReservationType",
    "SchedulerCallType",
    "SchedulerEventType",
    "TaskState",
    "TaskStatusReason",
    "TaskStatusSource",
    "ValueType",
    "VolumeMode",
]


class TaskState(ProtoEnum):
    """A task's state (``mesos.proto`` TaskState)."""

    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_UNKNOWN = "TASK_UNKNOWN"


class TaskStatusSource(ProtoEnum):
    """Who produced a status update."""

    SOURCE_MASTER = "SOURCE_MASTER"
    SOURCE_AGENT = "SOURCE_AGENT"
    SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


class TaskStatusReason(ProtoEnum):
    """Why a status update was sent (``task-state-reasons.md``)."""

    REASON_COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    REASON_CONTAINER_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
    REASON_CONTAINER_LIMITATION = "REASON_CONTAINER_LIMITATION"
    REASON_CONTAINER_LIMITATION_DISK = "REASON_CONTAINER_LIMITATION_DISK"
    REASON_CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    REASON_CONTAINER_PREEMPTED = "REASON_CONTAINER_PREEMPTED"
    REASON_CONTAINER_UPDATE_FAILED = "REASON_CONTAINER_UPDATE_FAILED"
    REASON_MAX_COMPLETION_TIME_REACHED = "REASON_MAX_COMPLETION_TIME_REACHED"
    REASON_EXECUTOR_REGISTRATION_TIMEOUT = "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    REASON_EXECUTOR_REREGISTRATION_TIMEOUT = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
    REASON_EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    REASON_EXECUTOR_UNREGISTERED = "REASON_EXECUTOR_UNREGISTERED"
    REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
    REASON_GC_ERROR = "REASON_GC_ERROR"
    REASON_INVALID_FRAMEWORKID = "REASON_INVALID_FRAMEWORKID"
    REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
    REASON_IO_SWITCHBOARD_EXITED = "REASON_IO_SWITCHBOARD_EXITED"
    REASON_MASTER_DISCONNECTED = "REASON_MASTER_DISCONNECTED"
    REASON_RECONCILIATION = "REASON_RECONCILIATION"
    REASON_RESOURCES_UNKNOWN = "REASON_RESOURCES_UNKNOWN"
    REASON_AGENT_DISCONNECTED = "REASON_AGENT_DISCONNECTED"
    REASON_AGENT_DRAINING = "REASON_AGENT_DRAINING"
    REASON_AGENT_REMOVED = "REASON_AGENT_REMOVED"
    REASON_AGENT_REMOVED_BY_OPERATOR = "REASON_AGENT_REMOVED_BY_OPERATOR"
    REASON_AGENT_REREGISTERED = "REASON_AGENT_REREGISTERED"
    REASON_AGENT_RESTARTED = "REASON_AGENT_RESTARTED"
    REASON_AGENT_UNKNOWN = "REASON_AGENT_UNKNOWN"
    REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
    REASON_TASK_CHECK_STATUS_UPDATED = "REASON_TASK_CHECK_STATUS_UPDATED"
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    REASON_TASK_GROUP_INVALID = "REASON_TASK_GROUP_INVALID"
    REASON_TASK_GROUP_UNAUTHORIZED = "REASON_TASK_GROUP_UNAUTHORIZED"
    REASON_TASK_INVALID = "REASON_TASK_INVALID"
    REASON_TASK_UNAUTHORIZED = "REASON_TASK_UNAUTHORIZED"
    REASON_TASK_UNKNOWN = "REASON_TASK_UNKNOWN"


class ValueType(ProtoEnum):
    """The kind of a resource or attribute value."""

    SCALAR = "SCALAR"
    RANGES = "RANGES"
    SET = "SET"
    TEXT = "TEXT"


class OfferOperationType(ProtoEnum):
    """An operation in ACCEPT."""

    UNKNOWN = "UNKNOWN"
    LAUNCH = "LAUNCH"
    LAUNCH_GROUP = "LAUNCH_GROUP"
    RESERVE = "RESERVE"
    UNRESERVE = "UNRESERVE"
    CREATE = "CREATE"
    DESTROY = "DESTROY"
    GROW_VOLUME = "GROW_VOLUME"
    SHRINK_VOLUME = "SHRINK_VOLUME"
    CREATE_DISK = "CREATE_DISK"
    DESTROY_DISK = "DESTROY_DISK"


class FrameworkCapabilityType(ProtoEnum):
    """A framework capability."""

    UNKNOWN = "UNKNOWN"
    REVOCABLE_RESOURCES = "REVOCABLE_RESOURCES"
    TASK_KILLING_STATE = "TASK_KILLING_STATE"
    GPU_RESOURCES = "GPU_RESOURCES"
    SHARED_RESOURCES = "SHARED_RESOURCES"
    PARTITION_AWARE = "PARTITION_AWARE"
    MULTI_ROLE = "MULTI_ROLE"
    RESERVATION_REFINEMENT = "RESERVATION_REFINEMENT"
    REGION_AWARE = "REGION_AWARE"


class AgentCapabilityType(ProtoEnum):
    """An agent capability."""

    UNKNOWN = "UNKNOWN"
    MULTI_ROLE = "MULTI_ROLE"
    HIERARCHICAL_ROLE = "HIERARCHICAL_ROLE"
    RESERVATION_REFINEMENT = "RESERVATION_REFINEMENT"
    RESOURCE_PROVIDER = "RESOURCE_PROVIDER"
    RESIZE_VOLUME = "RESIZE_VOLUME"
    AGENT_OPERATION_FEEDBACK = "AGENT_OPERATION_FEEDBACK"
    AGENT_DRAINING = "AGENT_DRAINING"
    TASK_RESOURCE_LIMITS = "TASK_RESOURCE_LIMITS"


class MasterCapabilityType(ProtoEnum):
    """A master capability."""

    UNKNOWN = "UNKNOWN"
    AGENT_UPDATE = "AGENT_UPDATE"
    AGENT_DRAINING = "AGENT_DRAINING"
    QUOTA_V2 = "QUOTA_V2"


class ReservationType(ProtoEnum):
    """Static (agent flag) or dynamic (operator/framework) reservation."""

    UNKNOWN = "UNKNOWN"
    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


class DiskSourceType(ProtoEnum):
    """The kind of a disk resource's source."""

    UNKNOWN = "UNKNOWN"
    PATH = "PATH"
    MOUNT = "MOUNT"
    BLOCK = "BLOCK"
    RAW = "RAW"


class ContainerType(ProtoEnum):
    """The containerizer."""

    DOCKER = "DOCKER"
    MESOS = "MESOS"


class DockerNetwork(ProtoEnum):
    """Docker network mode."""

    HOST = "HOST"
    BRIDGE = "BRIDGE"
    NONE = "NONE"
    USER = "USER"


class VolumeMode(ProtoEnum):
    """Volume access mode."""

    RW = "RW"
    RO = "RO"


class ImageType(ProtoEnum):
    """Container image format."""

    APPC = "APPC"
    DOCKER = "DOCKER"


class NetworkProtocol(ProtoEnum):
    """IP protocol of an address."""

    IPv4 = "IPv4"
    IPv6 = "IPv6"


class HealthCheckType(ProtoEnum):
    """How a health check probes the task."""

    UNKNOWN = "UNKNOWN"
    COMMAND = "COMMAND"
    HTTP = "HTTP"
    TCP = "TCP"


class CheckType(ProtoEnum):
    """How a general check probes the task."""

    UNKNOWN = "UNKNOWN"
    COMMAND = "COMMAND"
    HTTP = "HTTP"
    TCP = "TCP"


class ExecutorType(ProtoEnum):
    """Built-in default executor or a custom one."""

    UNKNOWN = "UNKNOWN"
    DEFAULT = "DEFAULT"
    CUSTOM = "CUSTOM"


class EnvironmentVariableType(ProtoEnum):
    """Plain value or secret."""

    UNKNOWN = "UNKNOWN"
    VALUE = "VALUE"
    SECRET = "SECRET"


class DiscoveryVisibility(ProtoEnum):
    """Who may discover a task."""

    FRAMEWORK = "FRAMEWORK"
    CLUSTER = "CLUSTER"
    EXTERNAL = "EXTERNAL"


class OperationState(ProtoEnum):
    """State of an offer operation with feedback."""

    OPERATION_UNSUPPORTED = "OPERATION_UNSUPPORTED"
    OPERATION_PENDING = "OPERATION_PENDING"
    OPERATION_FINISHED = "OPERATION_FINISHED"
    OPERATION_FAILED = "OPERATION_FAILED"
    OPERATION_ERROR = "OPERATION_ERROR"
    OPERATION_DROPPED = "OPERATION_DROPPED"
    OPERATION_UNREACHABLE = "OPERATION_UNREACHABLE"
    OPERATION_GONE_BY_OPERATOR = "OPERATION_GONE_BY_OPERATOR"
    OPERATION_RECOVERING = "OPERATION_RECOVERING"
    OPERATION_UNKNOWN = "OPERATION_UNKNOWN"


class DrainState(ProtoEnum):
    """Agent draining progress."""

    UNKNOWN = "UNKNOWN"
    DRAINING = "DRAINING"
    DRAINED = "DRAINED"


class MachineMode(ProtoEnum):
    """Maintenance mode of a machine."""

    UP = "UP"
    DRAINING = "DRAINING"
    DOWN = "DOWN"


class SchedulerCallType(ProtoEnum):
    """Scheduler API call type (``scheduler.proto`` Call.Type)."""

    UNKNOWN = "UNKNOWN"
    SUBSCRIBE = "SUBSCRIBE"
    TEARDOWN = "TEARDOWN"
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    ACCEPT_INVERSE_OFFERS = "ACCEPT_INVERSE_OFFERS"
    DECLINE_INVERSE_OFFERS = "DECLINE_INVERSE_OFFERS"
    REVIVE = "REVIVE"
    KILL = "KILL"
    SHUTDOWN = "SHUTDOWN"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    ACKNOWLEDGE_OPERATION_STATUS = "ACKNOWLEDGE_OPERATION_STATUS"
    RECONCILE = "RECONCILE"
    RECONCILE_OPERATIONS = "RECONCILE_OPERATIONS"
    MESSAGE = "MESSAGE"
    REQUEST = "REQUEST"
    SUPPRESS = "SUPPRESS"
    UPDATE_FRAMEWORK = "UPDATE_FRAMEWORK"


class SchedulerEventType(ProtoEnum):
    """Scheduler API event type (``scheduler.proto`` Event.Type)."""

    UNKNOWN = "UNKNOWN"
    SUBSCRIBED = "SUBSCRIBED"
    OFFERS = "OFFERS"
    INVERSE_OFFERS = "INVERSE_OFFERS"
    RESCIND = "RESCIND"
    RESCIND_INVERSE_OFFER = "RESCIND_INVERSE_OFFER"
    UPDATE = "UPDATE"
    UPDATE_OPERATION_STATUS = "UPDATE_OPERATION_STATUS"
    MESSAGE = "MESSAGE"
    FAILURE = "FAILURE"
    ERROR = "ERROR"
    HEARTBEAT = "HEARTBEAT"


class OperatorCallType(ProtoEnum):
    """Operator API call type (``master.proto`` Call.Type)."""

    UNKNOWN = "UNKNOWN"
    GET_HEALTH = "GET_HEALTH"
    GET_FLAGS = "GET_FLAGS"
    GET_VERSION = "GET_VERSION"
    GET_METRICS = "GET_METRICS"
    GET_LOGGING_LEVEL = "GET_LOGGING_LEVEL"
    SET_LOGGING_LEVEL = "SET_LOGGING_LEVEL"
    LIST_FILES = "LIST_FILES"
    READ_FILE = "READ_FILE"
    GET_STATE = "GET_STATE"
    GET_AGENTS = "GET_AGENTS"
    GET_FRAMEWORKS = "GET_FRAMEWORKS"
    GET_EXECUTORS = "GET_EXECUTORS"
    GET_OPERATIONS = "GET_OPERATIONS"
    GET_TASKS = "GET_TASKS"
    GET_ROLES = "GET_ROLES"
    GET_WEIGHTS = "GET_WEIGHTS"
    UPDATE_WEIGHTS = "UPDATE_WEIGHTS"
    GET_MASTER = "GET_MASTER"
    SUBSCRIBE = "SUBSCRIBE"
    RESERVE_RESOURCES = "RESERVE_RESOURCES"
    UNRESERVE_RESOURCES = "UNRESERVE_RESOURCES"
    CREATE_VOLUMES = "CREATE_VOLUMES"
    DESTROY_VOLUMES = "DESTROY_VOLUMES"
    GROW_VOLUME = "GROW_VOLUME"
    SHRINK_VOLUME = "SHRINK_VOLUME"
    GET_MAINTENANCE_STATUS = "GET_MAINTENANCE_STATUS"
    GET_MAINTENANCE_SCHEDULE = "GET_MAINTENANCE_SCHEDULE"
    UPDATE_MAINTENANCE_SCHEDULE = "UPDATE_MAINTENANCE_SCHEDULE"
    START_MAINTENANCE = "START_MAINTENANCE"
    STOP_MAINTENANCE = "STOP_MAINTENANCE"
    DRAIN_AGENT = "DRAIN_AGENT"
    DEACTIVATE_AGENT = "DEACTIVATE_AGENT"
    REACTIVATE_AGENT = "REACTIVATE_AGENT"
    GET_QUOTA = "GET_QUOTA"
    UPDATE_QUOTA = "UPDATE_QUOTA"
    SET_QUOTA = "SET_QUOTA"
    REMOVE_QUOTA = "REMOVE_QUOTA"
    TEARDOWN = "TEARDOWN"
    MARK_AGENT_GONE = "MARK_AGENT_GONE"


class OperatorResponseType(ProtoEnum):
    """Operator API response type (``master.proto`` Response.Type)."""

    UNKNOWN = "UNKNOWN"
    GET_HEALTH = "GET_HEALTH"
    GET_FLAGS = "GET_FLAGS"
    GET_VERSION = "GET_VERSION"
    GET_METRICS = "GET_METRICS"
    GET_LOGGING_LEVEL = "GET_LOGGING_LEVEL"
    LIST_FILES = "LIST_FILES"
    READ_FILE = "READ_FILE"
    GET_STATE = "GET_STATE"
    GET_AGENTS = "GET_AGENTS"
    GET_FRAMEWORKS = "GET_FRAMEWORKS"
    GET_EXECUTORS = "GET_EXECUTORS"
    GET_OPERATIONS = "GET_OPERATIONS"
    GET_TASKS = "GET_TASKS"
    GET_ROLES = "GET_ROLES"
    GET_WEIGHTS = "GET_WEIGHTS"
    GET_MASTER = "GET_MASTER"
    GET_MAINTENANCE_STATUS = "GET_MAINTENANCE_STATUS"
    GET_MAINTENANCE_SCHEDULE = "GET_MAINTENANCE_SCHEDULE"
    GET_QUOTA = "GET_QUOTA"


class OperatorEventType(ProtoEnum):
    """Operator API event type (``master.proto`` Event.Type)."""

    UNKNOWN = "UNKNOWN"
    SUBSCRIBED = "SUBSCRIBED"
    TASK_ADDED = "TASK_ADDED"
    TASK_UPDATED = "TASK_UPDATED"
    AGENT_ADDED = "AGENT_ADDED"
    AGENT_REMOVED = "AGENT_REMOVED"
    FRAMEWORK_ADDED = "FRAMEWORK_ADDED"
    FRAMEWORK_UPDATED = "FRAMEWORK_UPDATED"
    FRAMEWORK_REMOVED = "FRAMEWORK_REMOVED"
    HEARTBEAT = "HEARTBEAT"


TERMINAL_TASK_STATES: frozenset[TaskState] = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_LOST,
        TaskState.TASK_ERROR,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
    }
)
"""States after which a task never runs again (the master's ``isTerminalState``)."""
