"""The Mesos JSON mapping: omission, tolerance, scalars, bytes, unions, builders."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import ValidationError

import adapters.mesos as mesos
from adapters.mesos import (
    TERMINAL_TASK_STATES,
    AgentID,
    CallDecline,
    CommandInfo,
    ExecutorID,
    Filters,
    FrameworkID,
    FrameworkInfo,
    Offer,
    OfferID,
    OfferOperation,
    OperatorCall,
    Resource,
    Scalar,
    SchedulerCall,
    SchedulerEvent,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    TimeInfo,
    ValueType,
    accept_call,
    acknowledge_call,
    decline_call,
    decode_bytes,
    dumps,
    encode_bytes,
    from_json,
    kill_call,
    message_call,
    reconcile_call,
    revive_call,
    subscribe_call,
    suppress_call,
    teardown_call,
    to_json,
)
from adapters.mesos.types import AgentId, FrameworkId, TaskId

FID = FrameworkID.of(FrameworkId("fw-1"))
AID = AgentID.of(AgentId("agent-1"))
TID = TaskID.of(TaskId("web.1"))


def strict_loads(raw: bytes) -> Any:
    """json.loads that refuses the non-standard NaN/Infinity tokens."""

    def reject(token: str) -> Any:
        raise AssertionError(f"non-JSON token {token}")

    return json.loads(raw, parse_constant=reject)


def cpus(value: float) -> Resource:
    return Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=value))


# ------------------------------------------------------------ omission


def test_unset_optionals_are_omitted_not_null() -> None:
    status = TaskStatus(task_id=TID, state=TaskState.TASK_RUNNING, message=None)

    assert to_json(status) == {"task_id": {"value": "web.1"}, "state": "TASK_RUNNING"}
    assert b"null" not in dumps(status)


def test_empty_repeated_fields_appear_only_when_given() -> None:
    fresh = Offer(id=OfferID(value="o1"), framework_id=FID, agent_id=AID, hostname="h")
    parsed = from_json(Offer, dumps(fresh)[:-1] + b',"resources":[]}')

    assert "resources" not in to_json(fresh)
    assert to_json(parsed)["resources"] == []


def test_appending_to_a_default_list_is_serialised() -> None:
    offer = Offer(id=OfferID(value="o1"), framework_id=FID, agent_id=AID, hostname="h")
    offer.resources.append(cpus(1))

    assert to_json(offer)["resources"] == [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}
    ]


# ----------------------------------------------------------- tolerance


def test_unknown_fields_survive_a_round_trip_at_every_level() -> None:
    wire = {
        "id": {"value": "o1"},
        "framework_id": {"value": "fw-1"},
        "agent_id": {"value": "agent-1"},
        "hostname": "h",
        "future_field": {"nested": [1, 2]},
        "resources": [{"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}, "tier": "x"}],
    }

    assert to_json(from_json(Offer, wire)) == wire


def test_unknown_enum_value_parses_and_round_trips() -> None:
    wire = {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "reason": "REASON_FROM_THE_FUTURE"}
    status = from_json(TaskStatus, wire)

    assert status.reason == "REASON_FROM_THE_FUTURE"
    assert status.reason is not None and not status.reason.is_known()
    assert TaskStatusReason.REASON_RECONCILIATION.is_known()
    assert to_json(status) == wire


def test_unknown_call_type_still_parses_for_a_clean_rejection() -> None:
    call = from_json(SchedulerCall, {"type": "TELEPORT", "teleport": {}})

    assert not call.type.is_known()
    assert call.body() == {}


# ----------------------------------------------------- numbers and bytes


def test_int64_accepts_numeric_strings_and_writes_numbers() -> None:
    t = from_json(TimeInfo, b'{"nanoseconds":"1470820172000000000"}')

    assert t.nanoseconds == 1470820172000000000
    assert dumps(t) == b'{"nanoseconds":1470820172000000000}'


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        pytest.param("Infinity", math.inf, id="infinity"),
        pytest.param("-Infinity", -math.inf, id="minus infinity"),
        pytest.param(5, 5.0, id="integer"),
        pytest.param("2.5", 2.5, id="numeric string"),
    ],
)
def test_doubles_accept_numbers_strings_and_infinity(wire: object, value: float) -> None:
    filters = from_json(Filters, {"refuse_seconds": wire})

    assert filters.refuse_seconds == value


def test_infinite_doubles_serialise_as_strings() -> None:
    info = TaskInfo(name="t", task_id=TID, agent_id=AID, limits={"cpus": Scalar(value=math.inf)})

    assert to_json(info)["limits"] == {"cpus": {"value": "Infinity"}}
    assert strict_loads(dumps(info))["limits"] == {"cpus": {"value": "Infinity"}}


def test_scalar_map_accepts_the_bare_shorthand() -> None:
    info = from_json(
        TaskInfo,
        {
            "name": "t",
            "task_id": {"value": "t"},
            "agent_id": {"value": "a"},
            "limits": {"mem": 512},
        },
    )

    assert to_json(info)["limits"] == {"mem": {"value": 512.0}}


def test_bytes_helpers_round_trip_and_validate() -> None:
    raw = bytes(range(256))

    assert decode_bytes(encode_bytes(raw)) == raw
    assert encode_bytes(b"\x01\x02") == "AQI="
    with pytest.raises(ValueError, match="invalid base64"):
        decode_bytes("not base64!")


def test_set_field_uses_its_wire_name() -> None:
    wire = {"name": "disks", "type": "SET", "set": {"item": ["ssd"]}}
    resource = from_json(Resource, wire)

    assert resource.set_ is not None and resource.set_.item == ["ssd"]
    assert to_json(resource) == wire


def test_ids_are_hashable_values() -> None:
    seen = {AgentID.of("a"): 1}

    assert seen[AgentID(value="a")] == 1
    with pytest.raises(ValidationError):
        AgentID.of("a").value = "b"  # type: ignore[misc]


# ---------------------------------------------------------------- unions


@pytest.mark.parametrize(
    ("cls", "wire", "missing"),
    [
        pytest.param(SchedulerCall, {"type": "ACCEPT"}, "accept", id="scheduler accept"),
        pytest.param(SchedulerCall, {"type": "SUBSCRIBE"}, "subscribe", id="scheduler subscribe"),
        pytest.param(SchedulerEvent, {"type": "UPDATE"}, "update", id="scheduler update"),
        pytest.param(OperatorCall, {"type": "DRAIN_AGENT"}, "drain_agent", id="operator drain"),
    ],
)
def test_missing_body_is_rejected_in_mesos_words(cls: Any, wire: Any, missing: str) -> None:
    with pytest.raises(ValidationError, match=f"Expecting '{missing}' to be present"):
        from_json(cls, wire)


@pytest.mark.parametrize(
    ("cls", "wire"),
    [
        pytest.param(SchedulerCall, {"type": "TEARDOWN"}, id="teardown"),
        pytest.param(SchedulerCall, {"type": "REVIVE"}, id="revive"),
        pytest.param(SchedulerCall, {"type": "SUPPRESS"}, id="suppress"),
        pytest.param(SchedulerEvent, {"type": "HEARTBEAT"}, id="heartbeat"),
        pytest.param(OperatorCall, {"type": "GET_STATE"}, id="get_state"),
        pytest.param(OperatorCall, {"type": "SUBSCRIBE"}, id="operator subscribe"),
    ],
)
def test_bodyless_types_need_no_body(cls: Any, wire: Any) -> None:
    model = from_json(cls, wire)

    assert model.body() is None
    assert to_json(model) == wire


def test_wrap_puts_the_body_under_the_lower_cased_type() -> None:
    body = CallDecline(offer_ids=[OfferID(value="o1")])
    call = SchedulerCall.wrap("DECLINE", body, framework_id=FID)

    assert call.body() is body
    assert to_json(call) == {
        "framework_id": {"value": "fw-1"},
        "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "o1"}]},
    }


# -------------------------------------------------------------- builders


def test_subscribe_failover_carries_the_framework_id_twice() -> None:
    info = FrameworkInfo(user="root", name="dcos", id=FID, roles=["web"])

    assert to_json(subscribe_call(info, suppressed_roles=["web"])) == {
        "framework_id": {"value": "fw-1"},
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {
                "user": "root",
                "name": "dcos",
                "id": {"value": "fw-1"},
                "roles": ["web"],
            },
            "suppressed_roles": ["web"],
        },
    }


def test_first_subscribe_has_no_framework_id() -> None:
    call = subscribe_call(FrameworkInfo(user="root", name="dcos"))

    assert "framework_id" not in to_json(call)


def test_accept_with_launch_matches_the_wire_shape() -> None:
    task = TaskInfo(
        name="web",
        task_id=TID,
        agent_id=AID,
        resources=[cpus(0.5)],
        command=CommandInfo(value="sleep 10"),
    )
    call = accept_call(
        FID,
        [OfferID(value="o1")],
        [OfferOperation.of_launch([task])],
        filters=Filters(refuse_seconds=5),
    )

    assert to_json(call) == {
        "framework_id": {"value": "fw-1"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "o1"}],
            "operations": [
                {
                    "type": "LAUNCH",
                    "launch": {
                        "task_infos": [
                            {
                                "name": "web",
                                "task_id": {"value": "web.1"},
                                "agent_id": {"value": "agent-1"},
                                "resources": [
                                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}
                                ],
                                "command": {"value": "sleep 10"},
                            }
                        ]
                    },
                }
            ],
            "filters": {"refuse_seconds": 5.0},
        },
    }


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(teardown_call(FID), {"type": "TEARDOWN"}, id="teardown"),
        pytest.param(
            decline_call(FID, [OfferID(value="o1")]),
            {"type": "DECLINE", "decline": {"offer_ids": [{"value": "o1"}]}},
            id="decline",
        ),
        pytest.param(
            revive_call(FID), {"type": "REVIVE", "revive": {"roles": []}}, id="revive all"
        ),
        pytest.param(
            suppress_call(FID, ["web"]),
            {"type": "SUPPRESS", "suppress": {"roles": ["web"]}},
            id="suppress",
        ),
        pytest.param(
            kill_call(FID, TID, agent_id=AID),
            {
                "type": "KILL",
                "kill": {"task_id": {"value": "web.1"}, "agent_id": {"value": "agent-1"}},
            },
            id="kill",
        ),
        pytest.param(
            reconcile_call(FID, [(TID, None)]),
            {"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {"value": "web.1"}}]}},
            id="reconcile explicit",
        ),
        pytest.param(
            reconcile_call(FID),
            {"type": "RECONCILE", "reconcile": {"tasks": []}},
            id="reconcile implicit",
        ),
        pytest.param(
            message_call(FID, AID, ExecutorID(value="e"), b"hi"),
            {
                "type": "MESSAGE",
                "message": {
                    "agent_id": {"value": "agent-1"},
                    "executor_id": {"value": "e"},
                    "data": "aGk=",
                },
            },
            id="message",
        ),
    ],
)
def test_call_builders(call: SchedulerCall, expected: dict[str, Any]) -> None:
    assert to_json(call) == {"framework_id": {"value": "fw-1"}, **expected}


def test_acknowledge_echoes_the_status_uuid() -> None:
    status = TaskStatus(
        task_id=TID, state=TaskState.TASK_RUNNING, agent_id=AID, uuid="ycLTRBo8TjKFTrh4vsBERg=="
    )

    assert to_json(acknowledge_call(FID, status))["acknowledge"] == {
        "agent_id": {"value": "agent-1"},
        "task_id": {"value": "web.1"},
        "uuid": "ycLTRBo8TjKFTrh4vsBERg==",
    }


def test_updates_without_uuid_cannot_be_acknowledged() -> None:
    status = TaskStatus(task_id=TID, state=TaskState.TASK_LOST, agent_id=AID)

    with pytest.raises(ValueError, match="uuid"):
        acknowledge_call(FID, status)


def test_terminal_states_match_the_master() -> None:
    assert {s.value for s in TERMINAL_TASK_STATES} == {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
        "TASK_ERROR",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }


# ----------------------------------------------------------------- exports


def test_exported_members_are_sorted_and_complete() -> None:
    modules = [
        mesos.model_base,
        mesos.model_enums,
        mesos.model_common,
        mesos.model_task,
        mesos.model_offer,
        mesos.model_cluster,
        mesos.model_scheduler,
        mesos.model_operator_call,
        mesos.model_operator,
        mesos.types,
    ]
    expected = {name for module in modules for name in module.__all__} | {"recordio"}

    def isort_style(name: str) -> tuple[int, str]:  # ruff RUF022: CONSTANTS, Classes, functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert mesos.__all__ == sorted(mesos.__all__, key=isort_style)
    assert set(mesos.__all__) == expected


# -------------------------------------------------------- operator builders


def test_operator_builders_match_the_documented_bodies() -> None:
    reserved = Resource(
        name="cpus",
        type=ValueType.SCALAR,
        scalar=Scalar(value=1),
        reservations=[mesos.ReservationInfo(type=mesos.ReservationType.DYNAMIC, role="web")],
    )
    quota = mesos.QuotaConfig(role="web", limits={"cpus": Scalar(value=10)})

    assert to_json(mesos.drain_agent_call(AID, max_grace_period_seconds=600, mark_gone=False)) == {
        "type": "DRAIN_AGENT",
        "drain_agent": {
            "agent_id": {"value": "agent-1"},
            "max_grace_period": {"seconds": 600},
            "mark_gone": False,
        },
    }
    assert to_json(mesos.reserve_resources_call(AID, [reserved]))["reserve_resources"] == {
        "agent_id": {"value": "agent-1"},
        "resources": [
            {
                "name": "cpus",
                "type": "SCALAR",
                "scalar": {"value": 1.0},
                "reservations": [{"type": "DYNAMIC", "role": "web"}],
            }
        ],
    }
    assert to_json(mesos.update_quota_call([quota])) == {
        "type": "UPDATE_QUOTA",
        "update_quota": {"quota_configs": [{"role": "web", "limits": {"cpus": {"value": 10.0}}}]},
    }
    assert to_json(mesos.deactivate_agent_call(AID)) == {
        "type": "DEACTIVATE_AGENT",
        "deactivate_agent": {"agent_id": {"value": "agent-1"}},
    }


def test_events_survive_recordio_framing() -> None:
    events = [
        SchedulerEvent.wrap("HEARTBEAT"),
        SchedulerEvent.wrap("ERROR", mesos.EventError(message="Framework failed over \u2014 bye")),
    ]
    stream = b"".join(mesos.recordio.encode(dumps(e)) for e in events)
    decoder = mesos.recordio.RecordIODecoder()
    records = [r for i in range(len(stream)) for r in decoder.feed(stream[i : i + 1])]

    assert [from_json(SchedulerEvent, r) for r in records] == events
