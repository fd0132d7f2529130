"""Hosts: a Host's profile against its Docker engine, the CMDB mirror, onboarding and
decommissioning; the pure parts of the Host controller and the I/O it delegates.

- :mod:`.drift` — a profile and an engine's state as differences; :mod:`.render`
  — a profile as the files the host should have (``dcosctl hosts``);
- :mod:`.cmdb` — a CMDB device as the CMDB-owned Host fields; :mod:`.mirror` —
  the sync loop that writes them;
- :mod:`.onboarding` — Mesos agents and tasks as plain values, attributes compared;
- :mod:`.network` — the IPPool's Docker network plan and its drift;
- :mod:`.census` — live instances per host; :mod:`.snapshot` — what every host's
  reconcile reads, once per pass;
- :mod:`.decommission` — the next step of a host leaving service (pure);
  :mod:`.retirement` — the steps taken;
- :mod:`.conditions`, :mod:`.outcome` — condition types and one reconcile's findings.

The controller itself is :mod:`reconciler.controllers.host`.
"""
