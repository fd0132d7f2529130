"""reconciler.hosts.drift: a profile (and the host's IPAM block) against an
engine's observed state, and the orphan containers Mesos does not know."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest

from adapters.protocols import BridgeState, DockerHostState, LabelledContainer
from crds.host import DockerDaemonOptions, HostProfile
from reconciler.hosts.drift import TASK_ID_LABEL, Drift, compare, orphans, profile_drift

BLOCK = IPv4Network("10.20.0.16/28")
GATEWAY = IPv4Address("10.20.0.1")
PROFILE = HostProfile()  # overlay, journald, iptables and ip-forward off

CONFORMING = DockerHostState(
    storage_driver="overlay",
    logging_driver="journald",
    iptables=False,
    ip_forward=False,
    bridge=BridgeState(
        name="bridge",
        subnet=IPv4Network("10.20.0.0/22"),
        ip_range=BLOCK,
        gateway=IPv4Address("10.20.0.5"),
        default_gateway=GATEWAY,
    ),
)


def container(name: str, task: str | None, ip: str | None = "10.20.0.17") -> LabelledContainer:
    labels = {} if task is None else {TASK_ID_LABEL: task}
    return LabelledContainer(
        id=f"{name}0123456789abcdef",
        name=name,
        labels=labels,
        state="running",
        ip=None if ip is None else IPv4Address(ip),
    )


def test_a_conforming_engine_has_no_drift() -> None:
    assert compare(PROFILE, CONFORMING, known_task_ids=set(), block=BLOCK, gateway=GATEWAY) == []


@pytest.mark.parametrize(
    ("change", "drift"),
    [
        pytest.param(
            {"storage_driver": "overlay2"},
            Drift(
                "docker.storageDriver",
                "overlay",
                "overlay2",
                "storage driver is overlay2, the profile wants overlay",
            ),
            id="storage",
        ),
        pytest.param(
            {"logging_driver": "json-file"},
            Drift(
                "docker.logDriver",
                "journald",
                "json-file",
                "log driver is json-file, the profile wants journald",
            ),
            id="log",
        ),
        pytest.param(
            {"iptables": True},
            Drift("docker.iptables", "false", "true", "iptables is true, the profile wants false"),
            id="iptables",
        ),
        pytest.param(
            {"ip_forward": True},
            Drift(
                "docker.ipForward",
                "false",
                "true",
                "IPv4 forwarding is true, the profile wants false",
            ),
            id="forward",
        ),
        pytest.param(
            {"bridge": replace(CONFORMING.bridge, ip_range=IPv4Network("10.20.0.32/28"))},  # type: ignore[type-var]
            Drift(
                "docker.fixedCidr",
                "10.20.0.16/28",
                "10.20.0.32/28",
                "bridge ip-range is 10.20.0.32/28, the profile wants 10.20.0.16/28",
            ),
            id="block",
        ),
    ],
)
def test_each_differing_option_is_one_drift(change: dict[str, object], drift: Drift) -> None:
    state = replace(CONFORMING, **change)  # type: ignore[arg-type]

    assert profile_drift(PROFILE, state, block=BLOCK, gateway=GATEWAY) == [drift]


def test_options_the_engine_does_not_report_are_not_compared() -> None:
    state = replace(CONFORMING, iptables=None, ip_forward=None)
    profile = HostProfile(docker=DockerDaemonOptions(iptables=True, ip_forward=True))

    assert profile_drift(profile, state) == []


def test_a_missing_bridge_drifts_block_and_gateway() -> None:
    drifts = profile_drift(PROFILE, replace(CONFORMING, bridge=None), block=BLOCK, gateway=GATEWAY)

    assert [(d.field, d.want, d.have) for d in drifts] == [
        ("docker.fixedCidr", "10.20.0.16/28", "(none)"),
        ("docker.defaultGateway", "10.20.0.1", "(none)"),
    ]
    assert drifts[0].message.endswith("(none) (no bridge network), the profile wants 10.20.0.16/28")


def test_the_profile_block_and_gateway_win_over_ipam() -> None:
    profile = HostProfile(
        docker=DockerDaemonOptions(
            fixed_cidr=IPv4Network("10.20.0.32/28"), default_gateway=IPv4Address("10.20.0.2")
        )
    )

    drifts = profile_drift(profile, CONFORMING, block=BLOCK, gateway=GATEWAY)

    assert [(d.field, d.want, d.have) for d in drifts] == [
        ("docker.fixedCidr", "10.20.0.32/28", "10.20.0.16/28"),
        ("docker.defaultGateway", "10.20.0.2", "10.20.0.1"),
    ]


def test_without_a_block_or_gateway_they_are_not_compared() -> None:
    bare = replace(CONFORMING, bridge=BridgeState(name="bridge"))

    assert profile_drift(PROFILE, bare) == []


def test_the_bridge_address_is_the_gateway_without_default_gateway() -> None:
    bridge = replace(CONFORMING.bridge, default_gateway=None, gateway=GATEWAY)  # type: ignore[type-var]

    assert profile_drift(PROFILE, replace(CONFORMING, bridge=bridge), gateway=GATEWAY) == []


def test_orphans_are_labelled_containers_mesos_does_not_know() -> None:
    state = replace(
        CONFORMING,
        containers=(container("zeta", "cart.2"), container("alpha", "cart.9", ip=None)),
    )

    assert [c.name for c in orphans(state, {"cart.1"})] == ["alpha", "zeta"]
    assert orphans(state, {"cart.2", "cart.9"}) == []
    drifts = compare(PROFILE, state, known_task_ids={"cart.2"}, block=BLOCK, gateway=GATEWAY)
    assert drifts == [
        Drift(
            "container/alpha",
            "absent",
            "running cart.9 (none)",
            "container alpha (alpha0123456) runs task cart.9, which Mesos does not know",
        )
    ]


def test_without_known_task_ids_there_is_no_orphan_check() -> None:
    state = replace(CONFORMING, containers=(container("zeta", "cart.2"),))

    assert compare(PROFILE, state) == []
