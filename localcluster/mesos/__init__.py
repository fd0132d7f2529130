"""The local Mesos master: the v1 scheduler and operator HTTP APIs over N emulated agents.

A framework written for real Mesos 1.11 works against it unchanged
(``docs/localcluster.md``). From the outside in:

* ``server``: the Starlette app on uvicorn, :class:`~.server.LocalMaster` for
  in-process use; ``__main__``: ``python -m localcluster mesos``.
* ``transport``, ``scheduler_api``, ``operator_api``, ``legacy``, ``faults``:
  the HTTP endpoints; ``views`` and ``wire`` shape what they write.
* ``master``: frameworks and streams, wiring the parts below; ``state``: the
  records; ``settings``: every knob with its default.
* ``allocator`` and ``operations``: offers, filters, quota, ACCEPT;
  ``tasks`` and ``reconcile``: the task state machine and status updates;
  ``agents`` and ``maintenance``: reservations, draining, loss, maintenance;
  ``resources``: resource arithmetic; ``cluster``: the emulated agents.
* ``containerizer``: the seam to what runs tasks: ``sim`` (here), ``process``
  and ``docker``.
"""
