"""A new user's first minutes: `dcosctl up`, look around, edit, re-apply, `down`.

Runs the installed `dcosctl` as a separate process, exactly as `make up`
does, against its own state folder and ports, and stops what it started:
`up` starts etcd, the local Mesos master and two `dcos-controller` replicas
(detached, pids in `.state/`), waits for the Apps (``DCOS_UP_WAIT`` seconds
at most) and prints the instance table; `down` must leave none of them
running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.harness import UpCluster, process_running


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[UpCluster]:
    with UpCluster(tmp_path, up_wait=30, timeout=120) as cluster:
        yield cluster


def _names(cluster: UpCluster, kind: str) -> set[str]:
    listing = json.loads(cluster.run("get", kind, "-A", "-o", "json").stdout)
    assert listing["kind"] == "List"
    return {item["metadata"]["name"] for item in listing["items"]}


def _instance_rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == TABLE_HEADER)
    rows = []
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


TABLE_HEADER = ["APP", "HOST", "IP", "STATE", "HEALTH"]


def test_up_applies_specs_then_edits_converge_and_down_stops_etcd(cluster: UpCluster) -> None:
    first = cluster.up()
    assert "applied" in first.stdout
    assert "Try:" in first.stdout
    assert "started dcos-controller controller-a" in first.stdout
    assert "started dcos-controller controller-b" in first.stdout
    assert {"checkout", "search"} <= _names(cluster, "domains")
    apps = _names(cluster, "apps")
    assert len(apps) >= 4

    # every instance the specs ask for is placed and running, and the table says so
    # (Apps a ScalingPolicy scales follow the clock: a sale window may be open now)
    scaled = cluster.scaled_apps()
    listing = [
        a
        for a in json.loads(cluster.run("get", "apps", "-A", "-o", "json").stdout)["items"]
        if f"{a['metadata']['domain']}/{a['metadata']['name']}" not in scaled
    ]
    desired = {
        f"{a['metadata']['domain']}/{a['metadata']['name']}": a["spec"]["instances"]
        for a in listing
    }
    running = {
        a: n
        for a, n in (
            (
                f"{i['metadata']['domain']}/{i['metadata']['name']}",
                i["status"].get("runningInstances"),
            )
            for i in listing
        )
    }
    assert running == desired, first.stdout
    rows = _instance_rows(first.stdout)
    assert scaled <= {row[0] for row in rows if row[3] == "Running"}, first.stdout
    assert sorted(row[0] for row in rows if row[3] == "Running" and row[0] not in scaled) == sorted(
        app for app, n in desired.items() for _ in range(n)
    )
    assert {row[1] for row in rows} <= {
        h["metadata"]["name"]
        for h in json.loads(cluster.run("get", "hosts", "-o", "json").stdout)["items"]
    }
    # every host of specs/ is in a pool: one address each, but for the Apps that share
    # their host's network: the per-host agents and the registry replicas (command tasks)
    host_network = {
        f"{a['metadata']['domain']}/{a['metadata']['name']}"
        for a in json.loads(cluster.run("get", "apps", "-A", "-o", "json").stdout)["items"]
        if "image" not in a["spec"] or a["spec"].get("network") == "host"
    }
    assert {app.split("/")[0] for app in host_network} == {"dcos-system"}
    assert "dcos-system/sh1" in host_network
    ips = [row[2] for row in rows if row[0] not in host_network]
    assert "-" not in ips and len(ips) == len(set(ips))
    assert {row[2] for row in rows if row[0] in host_network} == {"-"}
    started = cluster.pids()
    assert set(started) == {"etcd", "netbox", "mesos", "controller-a", "controller-b"}
    assert all(process_running(pid) for pid in started.values())
    agents = httpx.get(f"http://127.0.0.1:{cluster.mesos_port}/master/slaves").json()["slaves"]
    hosts = json.loads(cluster.run("get", "hosts", "-o", "json").stdout)["items"]
    # One agent per Host of specs/ (none is Decommissioned).
    assert {agent["hostname"] for agent in agents} == {h["metadata"]["name"] for h in hosts}

    cluster.env["DCOS_UP_WAIT"] = "0"  # the wait was checked above
    again = cluster.up()
    assert "etcd is running" in again.stdout
    assert "Mesos master is running" in again.stdout
    assert "dcos-controller controller-a is running" in again.stdout
    assert cluster.pids() == started
    assert "created" not in again.stdout and "configured" not in again.stdout

    # edit one app, delete another file's worth of objects, and converge
    listing = json.loads(cluster.run("get", "apps", "-A", "-o", "json").stdout)
    victim = listing["items"][0]
    path = cluster.workdir / "victim.yaml"
    victim_doc = {
        "apiVersion": "dcos/v1",
        "kind": "App",
        "metadata": {"name": victim["metadata"]["name"], "domain": victim["metadata"]["domain"]},
        "spec": {**victim["spec"], "instances": victim["spec"]["instances"] + 1},
    }
    path.write_text(json.dumps(victim_doc))
    diff = cluster.run("diff", "-f", str(path), check=False)
    assert diff.returncode == 1, diff.stderr
    assert "instances" in diff.stdout
    cluster.run("apply", "-f", str(path))
    assert cluster.run("diff", "-f", str(path), check=False).returncode == 0

    scaling = sorted((cluster.workdir / "specs").rglob("scalingpolicies.yaml"))
    assert scaling, "specs/ has ScalingPolicy files"
    for path in scaling:
        path.unlink()
    pruned = cluster.up()
    assert "pruned" in pruned.stdout
    assert _names(cluster, "scalingpolicies") == set()

    down = cluster.run("down")
    assert "stopped etcd" in down.stdout
    assert "stopped the Mesos master" in down.stdout
    assert "stopped dcos-controller controller-a" in down.stdout
    assert "stopped dcos-controller controller-b" in down.stdout
    assert [name for name, pid in started.items() if process_running(pid)] == []
    assert cluster.pids() == {}
    status = cluster.run("get", "domains", check=False)
    assert status.returncode == 1
    assert f"127.0.0.1:{cluster.port}" in status.stderr
    assert "Traceback" not in status.stderr


def test_up_every_app_becomes_available(cluster: UpCluster) -> None:
    cluster.env["DCOS_UP_WAIT"] = "15"
    first = cluster.up()
    listing = json.loads(cluster.run("get", "apps", "-A", "-o", "json").stdout)["items"]
    available = {
        item["metadata"]["name"]: next(
            (c["status"] for c in item["status"].get("conditions", []) if c["type"] == "Available"),
            None,
        )
        for item in listing
    }
    assert set(available.values()) == {"True"}, available
    assert f"all {len(listing)} Apps are Available" in first.stdout

    # down keeps the state; up again starts a new master whose agents run nothing, and
    # the controllers launch every instance again: the statuses must follow, not stay
    # as the last run left them
    cluster.run("down")
    cluster.env["DCOS_UP_WAIT"] = "90"
    again = cluster.up()
    assert f"all {len(listing)} Apps are Available" in again.stdout, again.stdout
    scaled = cluster.scaled_apps()
    listing = json.loads(cluster.run("get", "apps", "-A", "-o", "json").stdout)["items"]
    desired = {
        f"{i['metadata']['domain']}/{i['metadata']['name']}": i["spec"]["instances"]
        for i in listing
    }
    running = {
        f"{i['metadata']['domain']}/{i['metadata']['name']}": i["status"].get("runningInstances")
        for i in listing
    }
    assert {a: n for a, n in running.items() if a not in scaled} == {
        a: n for a, n in desired.items() if a not in scaled
    }
    rows = [r for r in _instance_rows(again.stdout) if r[0] not in scaled]
    assert len(rows) == sum(n for a, n in desired.items() if a not in scaled)
    assert {r[3] for r in rows} == {"Running"}
