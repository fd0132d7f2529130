"""The ``process`` containerizer: a task's CommandInfo as a local process group.

What Mesos's command executor does, without isolation: each task gets a
sandbox directory (``<state_dir>/<agent>/<task>``, its cwd, with ``stdout``
and ``stderr`` files), an environment (the CommandInfo's variables over
``MESOS_*``, ``HOST``, ``PORT``, ``PORT0..n`` and ``PORTS`` from the offer's
ports) and its own session, so the whole process group is signalled. A shell
command (``shell`` unset or true) runs under ``/bin/sh -c``; otherwise
``value`` is the program and ``arguments`` its argv. A DOCKER task's image is
not run: its command runs on the host, with the docker parameter
``entrypoint`` (how an App's ``command`` arrives) as the program and the
``arguments`` after it, as ``docker run --entrypoint`` would.

One watcher task per run owns the terminal report: exit 0 is TASK_FINISHED,
anything else TASK_FAILED ("exited with code N"), and a run that ``kill``
stopped (SIGTERM, SIGKILL after the grace period) is TASK_KILLED. Reports go
out in order (STARTING, RUNNING, health changes, one terminal state) because
the watcher waits until the launch has reported RUNNING.

COMMAND health checks run as their own process in the task's sandbox and
environment, with the semantics of :mod:`localcluster.mesos.health`; a task
that fails them for good is killed (TASK_KILLED, healthy false).

No network is made for a task: it shares the host's. A task that asks for a
static address (``container.network_infos[].ip_addresses``, as the framework
sends for an instance with a pool IP) has it reported with TASK_RUNNING
(:func:`requested_ip`), so the master's ``container_status`` shows it as a
real agent's would; nothing listens on it.
:func:`task_environment`, :func:`command_argv`, :func:`terminal_status` and
:func:`kill_grace` are shared with ``localcluster.mesos.docker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

from adapters.mesos import CommandInfo, ContainerInfo, TaskState, TaskStatusReason
from localcluster.mesos.containerizer import Launch, Report, StatusReport
from localcluster.mesos.health import HEALTH_REASON, send_report, start_health_watch

__all__ = [
    "INVALID",
    "LAUNCH_FAILED",
    "ProcessContainerizer",
    "command_argv",
    "kill_grace",
    "requested_ip",
    "safe_name",
    "task_environment",
    "terminal_status",
]

logger = logging.getLogger(__name__)

LAUNCH_FAILED = TaskStatusReason.REASON_CONTAINER_LAUNCH_FAILED
INVALID = TaskStatusReason.REASON_TASK_INVALID


def command_argv(command: CommandInfo) -> list[str]:
    """argv of a CommandInfo: ``/bin/sh -c value`` for a shell command, else ``arguments``."""
    if command.shell is None or command.shell:
        if not command.value:
            raise ValueError("a shell command needs a value")
        return ["/bin/sh", "-c", command.value]
    if command.arguments:
        return list(command.arguments)
    if command.value:
        return [command.value]
    raise ValueError("a command needs a value or arguments")


def _entrypoint(container: ContainerInfo | None) -> str | None:
    """The ``entrypoint`` docker parameter of a DOCKER task, if any."""
    if container is None or container.docker is None:
        return None
    return next((p.value for p in container.docker.parameters if p.key == "entrypoint"), None)


def requested_ip(launch: Launch) -> str | None:
    """The static address the task asks for: the first of ``network_infos[].ip_addresses``,
    else a DOCKER task's ``ip`` parameter; None when it asks for none."""
    container = launch.task.container
    if container is None:
        return None
    for network in container.network_infos:
        for address in network.ip_addresses:
            if address.ip_address:
                return address.ip_address
    if container.docker is not None:
        return next((p.value for p in container.docker.parameters if p.key == "ip"), None)
    return None


def task_environment(launch: Launch) -> dict[str, str]:
    """The task's environment: Mesos/Marathon variables, then the CommandInfo's own."""
    env = {
        "MESOS_TASK_ID": launch.task.task_id.value,
        "MESOS_AGENT_ID": launch.agent_id,
        "MESOS_FRAMEWORK_ID": launch.framework_id,
        "HOST": launch.hostname,
    }
    if launch.agent_ip:
        env["LIBPROCESS_IP"] = launch.agent_ip  # the agent's address, as Mesos sets it
    if launch.ports:
        env["PORT"] = str(launch.ports[0])
        env["PORTS"] = ",".join(str(port) for port in launch.ports)
        env.update({f"PORT{i}": str(port) for i, port in enumerate(launch.ports)})
    command = launch.task.command
    if command is not None and command.environment is not None:
        for variable in command.environment.variables:
            if variable.value is not None:  # secrets are not supported
                env[variable.name] = variable.value
    return env


def safe_name(value: str) -> str:
    """``value`` reduced to ``[A-Za-z0-9_.-]``, usable in paths and container names."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value).lstrip(".") or "_"


@dataclass(eq=False)
class _Run:
    launch: Launch
    report: Report
    sandbox: Path
    process: asyncio.subprocess.Process | None = None
    launched: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the launch has reported RUNNING, or has failed."""
    killing: bool = False
    killed_by_health: bool = False
    watcher: asyncio.Task[None] | None = None
    health: asyncio.Task[None] | None = None

    @property
    def task_id(self) -> str:
        return self.launch.task.task_id.value


class ProcessContainerizer:
    """Runs tasks as local processes; see the module docstring."""

    def __init__(self, state_dir: Path, *, inherit_env: bool = True) -> None:
        """``inherit_env``: tasks see this process's environment under their own."""
        self.state_dir = state_dir
        self.inherit_env = inherit_env
        self._runs: dict[str, _Run] = {}  # every run not yet terminal, by task id
        self._closed = False

    async def launch(self, launch: Launch, report: Report) -> None:
        task_id = launch.task.task_id.value
        if self._closed or task_id in self._runs:
            why = "the containerizer is closed" if self._closed else "the task is running already"
            await report(StatusReport(task_id, TaskState.TASK_FAILED, why, INVALID))
            return
        sandbox = self.state_dir / safe_name(launch.agent_id) / safe_name(task_id)
        run = _Run(launch, report, sandbox)
        self._runs[task_id] = run
        try:
            await self._launch(run)
        finally:
            run.launched.set()

    async def _launch(self, run: _Run) -> None:
        try:
            process = run.process = await self._spawn(run)
        except (OSError, ValueError) as exc:
            del self._runs[run.task_id]
            logger.info("task %s did not start: %s", run.task_id, exc)
            failed = StatusReport(run.task_id, TaskState.TASK_FAILED, str(exc), LAUNCH_FAILED)
            await run.report(failed)
            return
        run.watcher = asyncio.create_task(self._watch(run), name=f"process:watch:{run.task_id}")
        if self._closed:  # closed while launching: close() did not see this process
            _signal_group(process.pid, signal.SIGKILL)
            return
        ip_address = requested_ip(run.launch)
        await run.report(StatusReport(run.task_id, TaskState.TASK_STARTING))
        await run.report(StatusReport(run.task_id, TaskState.TASK_RUNNING, ip_address=ip_address))
        logger.info("task %s running as pid %s in %s", run.task_id, process.pid, run.sandbox)
        run.health = start_health_watch(
            run.launch,
            exec=lambda check: self._exec(run, check),
            report=run.report,
            on_failed=lambda: self._kill_unhealthy(run),
            ip_address=ip_address,
            name=f"process:health:{run.task_id}",
        )

    async def _spawn(self, run: _Run) -> asyncio.subprocess.Process:
        command = run.launch.task.command
        if command is None:
            raise ValueError("the task has no command (executors are not supported)")
        entrypoint = _entrypoint(run.launch.task.container)
        if entrypoint is not None and command.shell is False and not command.value:
            argv = [entrypoint, *command.arguments]
            program = entrypoint
        else:
            argv = command_argv(command)
            program = command.value if command.shell is False and command.value else argv[0]
        await asyncio.to_thread(run.sandbox.mkdir, parents=True, exist_ok=True)
        env = {**(os.environ if self.inherit_env else {}), **task_environment(run.launch)}
        env["MESOS_SANDBOX"] = str(run.sandbox)
        with (run.sandbox / "stdout").open("ab") as out, (run.sandbox / "stderr").open("ab") as err:
            return await asyncio.create_subprocess_exec(
                *argv,
                executable=program,
                cwd=run.sandbox,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    async def _watch(self, run: _Run) -> None:
        """Wait for the exit, then send the one terminal report."""
        assert run.process is not None
        code = await run.process.wait()
        _signal_group(run.process.pid, signal.SIGKILL)  # what it left behind
        await run.launched.wait()
        if run.health is not None:
            run.health.cancel()
            await asyncio.wait([run.health])
        self._runs.pop(run.task_id, None)
        if self._closed:
            return
        status = terminal_status(
            run.task_id, code, killed=run.killing, by_health=run.killed_by_health
        )
        await send_report(run.report, status)

    async def _kill_unhealthy(self, run: _Run) -> None:
        run.killing = run.killed_by_health = True
        await self._terminate(run, kill_grace(run.launch))

    async def _exec(self, run: _Run, check: CommandInfo) -> int:
        """Run a health check in the task's sandbox and environment; its exit code."""
        env = {**(os.environ if self.inherit_env else {}), **task_environment(run.launch)}
        process = await asyncio.create_subprocess_exec(
            *command_argv(check),
            cwd=run.sandbox,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return await process.wait()
        finally:  # also on timeout: nothing of the check outlives it
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()

    async def kill(self, task_id: str, *, grace_seconds: float = 3.0) -> None:
        run = self._runs.get(task_id)
        if run is None:
            return
        run.killing = True
        await run.launched.wait()
        if run.watcher is None:
            return
        await self._terminate(run, grace_seconds)
        await asyncio.wait([run.watcher])

    async def _terminate(self, run: _Run, grace_seconds: float) -> None:
        """SIGTERM the group, SIGKILL it after the grace period; return once the process is gone."""
        assert run.process is not None
        _signal_group(run.process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(grace_seconds):
                await run.process.wait()
        except TimeoutError:
            logger.info("task %s outlived its %.1fs grace; SIGKILL", run.task_id, grace_seconds)
            _signal_group(run.process.pid, signal.SIGKILL)
            await run.process.wait()

    async def close(self) -> None:
        """SIGKILL every process group this containerizer started; nothing is reported."""
        self._closed = True
        runs = list(self._runs.values())
        for run in runs:
            if run.health is not None:
                run.health.cancel()
            if run.process is not None:
                _signal_group(run.process.pid, signal.SIGKILL)
        waiting = [task for run in runs for task in (run.watcher, run.health) if task is not None]
        if waiting:
            await asyncio.wait(waiting)


def terminal_status(task_id: str, code: int, *, killed: bool, by_health: bool) -> StatusReport:
    """The terminal report of a run that ended with exit status ``code``."""
    if killed and by_health:
        message = "killed after failing its health check"
        return StatusReport(task_id, TaskState.TASK_KILLED, message, HEALTH_REASON, healthy=False)
    if killed:
        return StatusReport(task_id, TaskState.TASK_KILLED, "killed")
    if code == 0:
        return StatusReport(task_id, TaskState.TASK_FINISHED, "exited with code 0")
    message = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return StatusReport(task_id, TaskState.TASK_FAILED, message)


def kill_grace(launch: Launch, default: float = 3.0) -> float:
    """The task's kill policy grace period in seconds, else ``default``."""
    policy = launch.task.kill_policy
    if policy is None or policy.grace_period is None:
        return default
    return policy.grace_period.nanoseconds / 1e9


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
