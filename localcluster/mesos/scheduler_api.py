"""``POST /api/v1/scheduler``: the v1 scheduler API endpoint.

After the transport checks (:mod:`.transport`) a call is parsed into a
:class:`~adapters.mesos.SchedulerCall` and validated as the master does:

* SUBSCRIBE must not carry ``Mesos-Stream-Id`` (400); a top-level
  ``framework_id`` must equal ``subscribe.framework_info.id`` (400). It
  answers 200 with a RecordIO stream and the ``Mesos-Stream-Id`` header.
* Every other call needs ``framework_id`` (400 "Expecting 'framework_id' to be
  present"), a known framework (400 "Framework cannot be found"), a
  subscribed one (403), and the stream id of its current subscription (400
  when missing or different). It answers 202 with an empty body;
  UPDATE_FRAMEWORK answers 200. Effects arrive as events on the stream.

Dispatch goes to the master's parts: offers to the allocator, tasks to the
task manager.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from adapters.mesos import (
    CallSubscribe,
    SchedulerCall,
    SchedulerCallType,
    SchedulerEvent,
    SchedulerEventType,
    dumps,
    recordio,
)
from localcluster.mesos.reconcile import reconcile
from localcluster.mesos.state import Framework
from localcluster.mesos.transport import (
    bad_request,
    check_transport,
    parse_json,
    stream_response,
    validation_message,
)

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["scheduler_endpoint"]

logger = logging.getLogger(__name__)

_HEARTBEAT = recordio.encode(dumps(SchedulerEvent.wrap(SchedulerEventType.HEARTBEAT)))
_KIND = "scheduler::Call"


async def scheduler_endpoint(request: Request) -> Response:
    master: Master = request.app.state.master
    refused = check_transport(request)
    if refused is not None:
        return refused
    try:
        data = await parse_json(request)
        call = SchedulerCall.model_validate(data)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            return bad_request(validation_message(exc, _KIND))
        return bad_request(str(exc))
    if not call.type.is_known() or call.type == SchedulerCallType.UNKNOWN:
        return bad_request(f"Failed to validate {_KIND}: Unknown call type '{call.type}'")
    stream_id = request.headers.get("mesos-stream-id")
    if call.type == SchedulerCallType.SUBSCRIBE:
        assert call.subscribe is not None
        return _subscribe(master, call, call.subscribe, stream_id)
    if call.framework_id is None:
        return bad_request(f"Failed to validate {_KIND}: Expecting 'framework_id' to be present")
    fw = master.state.frameworks.get(call.framework_id.value)
    if fw is None:
        return bad_request("Framework cannot be found")
    if fw.stream is None:
        return bad_request("Framework is not subscribed", 403)
    if stream_id is None:
        return bad_request("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    if stream_id != fw.stream.id:
        return bad_request(
            f"The stream ID '{stream_id}' included in this request didn't match the stream ID"
            f" currently associated with framework ID {fw.id}"
        )
    try:
        return dispatch(master, fw, call)
    except ValueError as exc:
        return bad_request(f"Failed to validate {_KIND}: {exc}")


def _subscribe(
    master: Master, call: SchedulerCall, body: CallSubscribe, stream_id: str | None
) -> Response:
    if stream_id is not None:
        return bad_request("Subscribe calls should not include the 'Mesos-Stream-Id' header")
    info = body.framework_info
    top = call.framework_id.value if call.framework_id else None
    inner = info.id.value if info.id else None
    if top != inner:
        return bad_request(
            f"Failed to validate {_KIND}: 'framework_id' differs from 'subscribe.framework_info.id'"
        )
    roles = set(info.roles) if info.roles else {info.role or "*"}
    if info.roles and info.role:
        return bad_request(
            f"Failed to validate {_KIND}:"
            " 'FrameworkInfo.role' must not be set together with 'roles'"
        )
    unknown = set(body.suppressed_roles) - roles
    if unknown:
        return bad_request(
            f"Failed to validate {_KIND}: Suppressed roles {sorted(unknown)} are not subscribed"
        )
    fw_id, stream = master.subscribe(body, inner)

    def closed() -> None:
        if fw_id is not None:
            master.stream_closed(fw_id, stream)

    return stream_response(
        stream,
        heartbeat=_HEARTBEAT,
        interval=master.settings.heartbeat_interval,
        on_close=closed,
        headers={"Mesos-Stream-Id": stream.id},
    )


def dispatch(master: Master, fw: Framework, call: SchedulerCall) -> Response:
    """Apply a non-SUBSCRIBE call; 202 Accepted unless it says otherwise."""
    kind = call.type
    if kind == SchedulerCallType.ACCEPT and call.accept is not None:
        master.allocator.accept(fw, call.accept)
    elif kind == SchedulerCallType.DECLINE and call.decline is not None:
        refuse = call.decline.filters.refuse_seconds if call.decline.filters else None
        master.allocator.decline(fw, [o.value for o in call.decline.offer_ids], refuse)
    elif kind == SchedulerCallType.REVIVE:
        master.allocator.revive(fw, list(call.revive.roles) if call.revive else [])
    elif kind == SchedulerCallType.SUPPRESS:
        master.allocator.suppress(fw, list(call.suppress.roles) if call.suppress else [])
    elif kind == SchedulerCallType.KILL and call.kill is not None:
        grace = None
        policy = call.kill.kill_policy
        if policy is not None and policy.grace_period is not None:
            grace = policy.grace_period.nanoseconds / 1e9
        agent_id = call.kill.agent_id.value if call.kill.agent_id else None
        master.tasks.kill(fw, call.kill.task_id.value, agent_id, grace)
    elif kind == SchedulerCallType.ACKNOWLEDGE and call.acknowledge is not None:
        ack = call.acknowledge
        master.tasks.acknowledge(fw, ack.task_id.value, ack.uuid)
    elif kind == SchedulerCallType.RECONCILE and call.reconcile is not None:
        listed = [
            (t.task_id.value, t.agent_id.value if t.agent_id else None)
            for t in call.reconcile.tasks
        ]
        reconcile(master, fw, listed)
    elif kind == SchedulerCallType.TEARDOWN:
        master.remove_framework(fw)
    elif kind == SchedulerCallType.UPDATE_FRAMEWORK and call.update_framework is not None:
        body = call.update_framework
        if body.framework_info.id is None or body.framework_info.id.value != fw.id:
            raise ValueError("'framework_info.id' must match 'framework_id'")
        master.update_framework(
            fw, CallSubscribe.model_validate(body.model_dump(by_alias=True, exclude_none=True))
        )
        return Response(status_code=200)
    elif kind == SchedulerCallType.ACCEPT_INVERSE_OFFERS and call.accept_inverse_offers is not None:
        ids = [o.value for o in call.accept_inverse_offers.inverse_offer_ids]
        master.maintenance.answer(fw, ids, accept=True)
    elif (
        kind == SchedulerCallType.DECLINE_INVERSE_OFFERS and call.decline_inverse_offers is not None
    ):
        ids = [o.value for o in call.decline_inverse_offers.inverse_offer_ids]
        master.maintenance.answer(fw, ids, accept=False)
    else:
        logger.debug("framework %s sent %s; accepted and ignored", fw.id, kind)
    return Response(status_code=202)
