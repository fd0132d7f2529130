"""An App from YAML to running tasks: `dcosctl apply`, `dcos-controller`, a local Mesos.

The whole stack as an operator runs it: the test's etcd, a local Mesos
master with simulated agents (in this process), the installed
``dcos-controller`` process pointed at both (``--mesos``), and the installed
``dcosctl`` applying a Domain and an App. The App's status is read from etcd
until every instance runs; waits are conditions with deadlines.
"""

from __future__ import annotations

from e2e.harness import Stack, conditions, domain_manifest, get_app, manifest
from localcluster.mesos.server import LocalMaster

APP = """\
apiVersion: dcos/v1
kind: App
metadata:
  name: web
  domain: shop
spec:
  image: registry.example.com/shop/web:1.0
  instances: 6
  cpus: 0.5
  mem: 128Mi
  ports:
    - containerPort: 8080
      name: http
  constraints:
    - [hostname, MAX_PER, "2"]
"""
SPEC = manifest(domain_manifest(), APP)


async def test_applied_app_runs_on_sim_agents(sim_master: LocalMaster, sim_stack: Stack) -> None:
    stack = sim_stack
    stack.apps.append(("shop", "web"))
    await stack.apply(SPEC)

    async def available() -> bool:
        app = await get_app(stack.store, "shop", "web")
        if app is None:
            return False
        return (
            app.status.running_instances == 6
            and conditions(app).get("Available") == ("True", "MinimumHealthy")
            and conditions(app).get("Progressing") == ("True", "RolloutComplete")
        )

    await stack.until("the App to converge", available)

    tasks = [
        rec
        for fw in sim_master.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if str(rec.state) == "TASK_RUNNING"
    ]
    assert len(tasks) == 6
    per_host: dict[str, int] = {}
    for rec in tasks:
        per_host[rec.agent_id] = per_host.get(rec.agent_id, 0) + 1
    assert max(per_host.values()) <= 2  # MAX_PER hostname 2 over 3 agents
    env = {v.name: v.value for v in tasks[0].info.command.environment.variables}  # type: ignore[union-attr]
    assert env["TZ"] == "Asia/Shanghai"
    labels = {label.key: label.value for label in tasks[0].info.labels.labels}  # type: ignore[union-attr]
    assert labels["dcos/app"] == "web" and labels["dcos/domain"] == "shop"
    names = {fw.info.name for fw in sim_master.master.state.frameworks.values()}
    assert names == {"simple-dcos"}
    described = await stack.ctl("get", "apps", "-d", "shop")
    assert described.code == 0, described.err
    assert "web" in described.out
