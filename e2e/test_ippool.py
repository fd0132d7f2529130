"""IPPools on the installed ``dcos-controller``: ``dcosctl apply`` of the example pools
and hosts, and every host a pool selects shows up with its block in the pool's status."""

from __future__ import annotations

from pathlib import Path

from adapters.protocols import ObjectKey
from crds.ippool import IPPool
from e2e.harness import Stack

SPECS = Path(__file__).resolve().parent.parent / "specs"
EXPECTED = {
    "checkout-v110": ["sh1-r1-01", "sh1-r2-01", "sh1-r3-01"],
    "search-v120": ["sh1-r1-02", "sh1-r2-02", "sh1-r3-02"],
    "shared-v130": ["sh1-r1-03", "sh1-r3-03"],
}


async def test_every_selected_host_gets_a_block(sim_stack: Stack) -> None:
    stack = sim_stack
    for name in ("ippools.yaml", "hosts.yaml"):
        await stack.apply((SPECS / name).read_text())

    async def pools() -> dict[str, IPPool]:
        found = {}
        for name in EXPECTED:
            got = await stack.store.get(ObjectKey("IPPool", None, name))
            assert isinstance(got, IPPool)
            found[name] = got
        return found

    async def allocated() -> bool:
        got = await pools()
        return all(
            [h.host for h in (got[n].status.hosts or [])] == want for n, want in EXPECTED.items()
        )

    await stack.until("a block for every host of every pool", allocated)
    blocks = [b for p in (await pools()).values() for h in (p.status.hosts or []) for b in h.blocks]
    assert len(blocks) == len(set(blocks)) == 8
    for p in (await pools()).values():
        assert p.status.allocated_blocks == len(EXPECTED[p.metadata.name])
        ready = next(c for c in p.status.conditions if c.type == "Ready")
        assert ready.status == "True"
    got = await stack.ctl("get", "ippools")
    assert got.code == 0, got.err
    assert "UTIL" in got.out
