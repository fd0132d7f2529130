"""ipam check, pure: leak candidates, conflicts, addresses outside, two sightings."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.protocols import BlockAllocation, IpAllocation, PoolAllocations
from crds.ippool import IPPoolSpec
from reconciler.ipam import (
    CheckReport,
    ContainerAddress,
    FindingKind,
    InstanceAddress,
    Sighting,
    check,
    confirm_leaks,
)

SPEC = IPPoolSpec.model_validate({"vlan": 20, "cidr": "10.20.0.0/24", "gateway": "10.20.0.1"})
POOLS = {"p": SPEC}
BLOCKS = (
    BlockAllocation("p", IPv4Network("10.20.0.0/28"), "h1"),
    BlockAllocation("p", IPv4Network("10.20.0.16/28"), "h2"),
)


def alloc(last: int, owner: str, *, host: str = "h1", released: float | None = None):
    return IpAllocation("p", IPv4Address(f"10.20.0.{last}"), host, owner, released, revision=last)


def inst(owner: str, last: int | None, *, live: bool = True, host: str = "h1") -> InstanceAddress:
    ip = None if last is None else IPv4Address(f"10.20.0.{last}")
    return InstanceAddress(owner, ip, host, live)


def box(task: str, ip: str | None, *, host: str = "h1") -> ContainerAddress:
    return ContainerAddress(host, f"c-{task}", task, None if ip is None else IPv4Address(ip))


def run(ips, instances=(), containers=(), **kw) -> CheckReport:
    allocations = {"p": PoolAllocations(blocks=BLOCKS, ips=tuple(ips))}
    return check(
        pools=POOLS, allocations=allocations, instances=instances, containers=containers, **kw
    )


def rows(findings) -> list[tuple[str, str, str]]:
    return [(str(f.kind), str(f.ip), f.detail) for f in findings]


def test_a_clean_pool_has_no_findings() -> None:
    report = run(
        [alloc(2, "a"), alloc(3, "b"), alloc(4, "old", released=5.0)],
        [inst("a", 2), inst("b", 3)],
        [box("a", "10.20.0.2")],
    )
    assert report == CheckReport(held=2, released=1, ok=2, instances=2, containers=1)


def test_a_candidate_has_no_live_instance_and_no_container() -> None:
    report = run(
        [alloc(2, "gone"), alloc(3, "done"), alloc(4, "boxed"), alloc(5, "pending")],
        [inst("done", 3, live=False), inst("pending", None)],
        [box("boxed", None)],
    )
    assert [(f.owner, str(f.ip), f.revision) for f in report.candidates] == [
        ("gone", "10.20.0.2", 2),
        ("done", "10.20.0.3", 3),
    ]
    assert report.candidates[0].kind is FindingKind.LEAKED
    assert (report.held, report.ok) == (4, 2)


def test_an_address_someone_else_uses_is_a_conflict_not_a_leak() -> None:
    report = run([alloc(2, "gone"), alloc(3, "gone2")], [inst("x", 2)], [box("y", "10.20.0.3")])
    assert not report.candidates
    assert [f.detail for f in report.conflicts] == [
        "instance has it; allocated to gone",
        "c-y: allocated to gone2",
    ]


def test_an_unread_engine_makes_no_candidate_on_its_host() -> None:
    report = run([alloc(2, "x"), alloc(18, "y", host="h2")], unknown_hosts={"h2"})
    assert [f.owner for f in report.candidates] == ["x"]


def test_instance_conflicts() -> None:
    report = run(
        [alloc(2, "a"), alloc(3, "b"), alloc(4, "c"), alloc(5, "r", released=1.0)],
        [inst("a", 3), inst("b", 3), inst("c", 4), inst("d", 6), inst("e", 5), inst("f", 4)],
    )
    assert rows(report.conflicts) == [
        ("conflict", "10.20.0.3", "on instances a, b"),
        ("conflict", "10.20.0.3", "instance has it; IPAM gave 10.20.0.2"),
        ("conflict", "10.20.0.4", "on instances c, f"),
        ("conflict", "10.20.0.4", "instance has it; allocated to c"),
        ("conflict", "10.20.0.5", "instance has it; released"),
        ("conflict", "10.20.0.6", "instance has it; not allocated"),
    ]
    assert report.ok == 0 and not report.candidates


def test_container_conflicts_and_outside() -> None:
    report = run(
        [alloc(2, "a"), alloc(3, "b"), alloc(4, "r", released=1.0)],
        [inst("a", 2), inst("b", 3)],
        [
            box("a", "10.20.0.2"),
            box("x", "10.20.0.3"),
            box("y", "10.20.0.4"),
            box("z", "10.20.0.5"),
            box("w", "10.20.0.18"),
            box("v", "10.20.0.40", host="h2"),
            box("u", "192.168.1.5", host="h2"),
            box("t", "10.20.0.2", host="h2"),
        ],
    )
    assert rows(report.conflicts) == [
        ("conflict", "10.20.0.2", "on containers c-a on h1, c-t on h2"),
        ("conflict", "10.20.0.2", "c-t: in block 10.20.0.0/28 of h1"),
        ("conflict", "10.20.0.3", "c-x: allocated to b"),
        ("conflict", "10.20.0.4", "c-y: released by r"),
        ("conflict", "10.20.0.5", "c-z: not allocated"),
        ("conflict", "10.20.0.18", "c-w: in block 10.20.0.16/28 of h2"),
    ]
    assert rows(report.outside) == [
        ("outside", "192.168.1.5", "c-u: in no pool"),
        ("outside", "10.20.0.40", "c-v: in no block"),
    ]
    assert report.outside[0].pool == "" and report.outside[1].pool == "p"
    assert not run([], containers=[box("u", "192.168.1.5")], unpooled=False).outside


def test_addresses_of_pools_not_checked_are_left_alone() -> None:
    other = IPPoolSpec.model_validate({"vlan": 30, "cidr": "10.30.0.0/24", "gateway": "10.30.0.1"})
    report = check(
        pools={"p": SPEC, "q": other},
        allocations={"p": PoolAllocations(blocks=BLOCKS)},
        instances=[InstanceAddress("i", IPv4Address("10.30.0.5"), "h1", True)],
        containers=[box("i", "10.30.0.5")],
    )
    assert report == CheckReport(containers=1)


def test_a_leak_needs_two_sightings_grace_apart_and_the_final_recheck() -> None:
    first = run([alloc(2, "a"), alloc(3, "b"), alloc(4, "c")])
    later = run(
        [
            alloc(2, "a"),
            alloc(3, "b"),
            IpAllocation("p", IPv4Address("10.20.0.4"), "h1", "c", None, 99),
        ]
    )
    final = run([alloc(2, "a"), alloc(3, "b")], [inst("b", 3)])

    leaks = confirm_leaks(Sighting(10.0, first), Sighting(15.0, later), final, grace=5.0)

    assert [f.owner for f in leaks] == ["a"]  # b came back, c's record changed
    assert confirm_leaks(Sighting(10.0, first), Sighting(14.9, later), final, grace=5.0) == ()


ADDR = st.integers(2, 31)


@settings(max_examples=60, deadline=None)
@given(
    held=st.dictionaries(ADDR, st.sampled_from(["a", "b", "c", "d", "e"]), max_size=10),
    live=st.sets(st.sampled_from(["a", "b", "c", "d", "e"])),
    boxed=st.sets(st.sampled_from(["a", "b", "c", "d", "e"])),
)
def test_candidates_are_exactly_the_held_owners_nobody_runs(
    held: dict[int, str], live: set[str], boxed: set[str]
) -> None:
    owners: dict[str, int] = {}
    for last, owner in sorted(held.items()):
        owners.setdefault(owner, last)  # one address per owner, as the store keeps it
    ips = [alloc(last, o, host="h1" if last < 16 else "h2") for o, last in owners.items()]
    report = run(ips, [inst(o, None) for o in live], [box(o, None) for o in boxed])

    assert {f.owner for f in report.candidates} == set(owners) - live - boxed
    assert report.held == len(owners) == report.ok + len(report.candidates)
    assert confirm_leaks(Sighting(0, report), Sighting(1, report), report, grace=1) == (
        report.candidates
    )
