"""GitOps with the installed ``dcosctl sync`` on a git repository of specs.

A repository is made with ``git init``; each step commits and syncs as a CI
job on merge would. The scenario checks what an operator would: the commit
recorded, a change applied, drift made with ``dcosctl apply``/``scale``
reported and then put back by ``--self-heal`` (but never the instances a
ScalingPolicy owns), a wrong file in a commit leaving etcd exactly as it was
with one line naming file and field, and ``--prune``. The second test runs
``sync --watch`` and measures the time from a file write to the etcd put.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import yaml

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.errors import NotFound
from e2e.harness import BIN, TIMEOUT, Ran, dcosctl, until

WATCH_LATENCY = 1.0
"""Seconds from a file write to its etcd put that ``--watch`` must beat."""


def domain() -> str:
    return "apiVersion: dcos/v1\nkind: Domain\nmetadata: {name: shop}\nspec: {}\n"


def app(name: str, instances: int, image: str = "registry.local/shop/web:1.0") -> str:
    doc = {
        "apiVersion": "dcos/v1",
        "kind": "App",
        "metadata": {"name": name, "domain": "shop"},
        "spec": {"image": image, "instances": instances, "cpus": 0.1, "mem": 32},
    }
    return yaml.safe_dump(doc, sort_keys=False)


POLICY = """\
apiVersion: dcos/v1
kind: ScalingPolicy
metadata: {name: web-sales, domain: shop}
spec:
  targetRef: {name: web}
  schedules:
    - {name: sale, cron: "0 10 * * *", instances: 12, until: 1h}
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "ops",
        "GIT_AUTHOR_EMAIL": "ops@example.com",
        "GIT_COMMITTER_NAME": "ops",
        "GIT_COMMITTER_EMAIL": "ops@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, files: Mapping[str, str | None], message: str) -> str:
    """Write (or, for None, delete) ``files`` under specs/, commit, return the commit."""
    for name, text in files.items():
        path = repo / "specs" / name
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "gitops"
    (repo / "specs").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


async def record(store: EtcdStore) -> dict[str, object]:
    value = await store.get_raw("syncs/specs")
    assert value is not None, "no sync record"
    data = json.loads(value)
    assert isinstance(data, dict)
    return data


async def live(store: EtcdStore, name: str) -> App | None:
    try:
        obj = await store.get(ObjectKey("App", "shop", name))
    except NotFound:
        return None
    assert isinstance(obj, App)
    return obj


async def test_sync_follows_commits_reports_and_heals_drift(
    store: EtcdStore, etcd_endpoint: str, etcd_prefix: str, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path)
    specs = str(repo / "specs")

    async def ctl(*args: str, stdin: str | None = None) -> Ran:
        return await dcosctl(etcd_endpoint, etcd_prefix, tmp_path, *args, stdin=stdin)

    first = commit(
        repo,
        {"domain.yaml": domain(), "web.yaml": app("web", 3), "api.yaml": app("api", 2)}
        | {"policy.yaml": POLICY},
        "first specs",
    )
    ran = await ctl("sync", specs, "--prune")
    assert ran.code == 0, ran.err
    assert f"at commit {first[:12]}" in ran.out
    assert (await record(store))["commit"] == first

    second = commit(repo, {"api.yaml": app("api", 2, "registry.local/shop/api:2.0")}, "api 2.0")
    ran = await ctl("sync", specs, "--prune")
    assert "App/shop/api configured" in ran.out, ran.out
    api = await live(store, "api")
    assert api is not None and api.spec.image == "registry.local/shop/api:2.0"
    assert (await record(store))["commit"] == second

    # Drift behind the repository's back: a hand-applied image, two scales.
    hand = app("api", 2, "registry.local/shop/api:hotfix")
    assert (await ctl("apply", "-f", "-", stdin=hand)).code == 0
    assert (await ctl("scale", "app/web", "-d", "shop", "--instances", "12")).code == 0
    ran = await ctl("sync", specs, "--prune")
    assert ran.code == 0, ran.err
    assert "drift: App/shop/api changed behind the folder's back: left as is" in ran.out
    assert "App/shop/web" not in ran.out  # the ScalingPolicy owns web's instances
    api = await live(store, "api")
    assert api is not None and api.spec.image == "registry.local/shop/api:hotfix"
    status = await ctl("sync", "status")
    assert status.code == 1, status.err
    assert "-  image: registry.local/shop/api:hotfix\n+  image: registry.local/shop/api:2.0" in (
        status.out
    )
    ran = await ctl("sync", specs, "--prune", "--self-heal")
    assert "App/shop/api changed behind the folder's back: put back" in ran.out, ran.out
    api, web = await live(store, "api"), await live(store, "web")
    assert api is not None and api.spec.image == "registry.local/shop/api:2.0"
    assert web is not None and web.spec.instances == 12  # the policy's count, untouched
    assert (await ctl("sync", "status")).code == 0

    # A wrong file in a commit: nothing at all is written, and the line says where.
    before, revision = await record(store), await store.revision()
    commit(
        repo,
        {"web.yaml": app("web", 3, "registry.local/shop/web:2.0"), "api.yaml": None}
        | {"bad.yaml": app("cart", 1).replace("cpus: 0.1", "cpus: lots")},
        "a wrong file",
    )
    ran = await ctl("sync", specs, "--prune", "--self-heal")
    assert ran.code == 1
    assert ran.err.splitlines() == [
        f"error: {specs}/bad.yaml: document 1: spec.cpus: "
        "Input should be a valid number, unable to parse string as a number"
    ], ran.err
    assert await store.revision() == revision
    assert await record(store) == before

    fixed = commit(repo, {"bad.yaml": None}, "drop the wrong file")
    ran = await ctl("sync", specs, "--prune")
    assert "App/shop/api pruned" in ran.out and "App/shop/web configured" in ran.out, ran.out
    assert await live(store, "api") is None
    assert (await record(store))["commit"] == fixed


@contextlib.asynccontextmanager
async def watching(
    etcd: str, prefix: str, *args: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """``dcosctl sync --watch`` running; its stderr lines collected; SIGTERM on exit."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "dcosctl"),
        "--etcd",
        etcd,
        "--prefix",
        prefix,
        "sync",
        *args,
        "--watch",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("DCOS_")},
    )
    lines: list[str] = []

    async def collect() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            lines.append(line.decode().rstrip("\n"))

    reader = asyncio.create_task(collect())
    try:
        yield proc, lines
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(TIMEOUT):
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await reader


async def test_watch_syncs_a_file_change_within_a_second(
    store: EtcdStore, etcd_endpoint: str, etcd_prefix: str, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path)
    commit(repo, {"domain.yaml": domain(), "api.yaml": app("api", 2)}, "first specs")
    specs = repo / "specs"
    args = (str(specs), "--self-heal", "--interval", "60")
    async with watching(etcd_endpoint, etcd_prefix, *args) as (proc, errors):
        await until("the first sync", lambda: _has_record(store))

        async def instances(want: int) -> bool:
            api = await live(store, "api")
            return api is not None and api.spec.instances == want

        latencies = []
        for count in (4, 5, 6):
            started = time.monotonic()
            (specs / "api.yaml").write_text(app("api", count))
            await until(f"{count} instances", lambda c=count: instances(c))  # type: ignore[misc]
            latencies.append(time.monotonic() - started)
        assert max(latencies) < WATCH_LATENCY, latencies

        scale = await dcosctl(
            etcd_endpoint,
            etcd_prefix,
            tmp_path,
            "scale",
            "app/api",
            "-d",
            "shop",
            "--instances",
            "1",
        )
        assert scale.code == 0, scale.err
        await until("the drift to be put back", lambda: instances(6))
        await until("the sync record of it", lambda: _recorded(store, "put back"))

        revision = await store.revision()
        (specs / "api.yaml").write_text(app("api", 7).replace("instances: 7", "instances: many"))
        await until("the error line", lambda: _said(errors, "spec.instances"))
        assert proc.returncode is None  # the watch goes on
        assert await store.revision() == revision
        (specs / "api.yaml").write_text(app("api", 8))
        await until("the fix", lambda: instances(8))
    assert proc.returncode == 0, errors


async def _has_record(store: EtcdStore) -> bool:
    return await store.get_raw("syncs/specs") is not None


async def _recorded(store: EtcdStore, message: str) -> bool:
    objects = (await record(store))["objects"]
    assert isinstance(objects, list)
    return any(message in o["message"] for o in objects)


async def _said(lines: list[str], what: str) -> bool:
    return any(line.startswith("error: ") and what in line for line in lines)
