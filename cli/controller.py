"""``dcos-controller``: the controller manager's process (the composition root).

``reconciler`` sees only the Protocols of ``adapters.protocols``; this module
is where the concrete parts meet: it parses the flags, opens the
:class:`~adapters.etcd.EtcdStore`, builds the etcd leader elector and the
fenced store, registers the controllers on a
:class:`~reconciler.runtime.Manager` and runs it until SIGTERM or SIGINT::

    dcos-controller run --etcd URL[,URL] --prefix /dcos --metrics-addr 127.0.0.1:9100 \\
        --id NAME --lease-ttl 5 --mesos http://127.0.0.1:5050

Every flag can also come from a YAML file (``--config FILE`` or
``$DCOS_CONTROLLER_CONFIG``), which also holds the etcd credentials and TLS
files; a flag beats the environment, which beats the file
(:mod:`cli.controller_config`).

With ``--mesos`` (or ``$DCOS_MESOS``) the manager is also a Mesos framework
(:mod:`reconciler.framework`, run only while it leads) and runs the App
controller (:mod:`reconciler.controllers.app`); the framework's records and
the controllers' writes go through the fenced store.

With ``--cmdb URL`` (or ``$DCOS_CMDB``; the token only from
``$DCOS_CMDB_TOKEN`` or the config file) a NetBox client is opened: the
Host controller reads the devices, and with ``--mesos`` the
container-to-host mapping is written back while this replica leads
(:mod:`reconciler.cmdb.mapping`).

Unless ``--no-dashboard``, the metrics address also serves the read-only web
dashboard (``/``, ``/api/state``, ``/api/stream``: :mod:`reconciler.dashboard`).

The first signal stops gracefully: queues stop handing out work, reconciles
in flight finish, the leader lease is revoked so a standby replica takes over
at once. A second signal cancels what is left.

Exit codes: 0 stopped by a signal, 1 error (etcd unreachable, address in
use), 2 usage. Errors are one ``dcos-controller: error: ...`` line on stderr.
Details are in ``docs/controller.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from adapters.etcd.leader import FencedStore
    from adapters.protocols import Cmdb
    from reconciler.apps.instances import Instance
    from reconciler.runtime import Controller, Manager

__all__ = ["CONTROLLERS", "main", "run"]

logger = logging.getLogger(__name__)

PROG = "dcos-controller"
USAGE = 2
ERROR = 1
ELECTION = "controller-manager"


def _ippool(manager: Manager) -> None:
    """The IPPool controller; its block claims go through the manager's fenced store."""
    from adapters.etcd import EtcdStore
    from adapters.etcd.ipam import EtcdIpam
    from reconciler.controllers import ippool

    assert isinstance(manager.store, EtcdStore)
    ippool.register(manager, ipam=EtcdIpam(manager.store))


def _agentset(manager: Manager) -> None:
    """The AgentSet controller: one agent App per matching host, in the system domain."""
    from reconciler.controllers import agentset

    agentset.register(manager)


CONTROLLERS: list[Callable[[Manager], None]] = [_ippool, _agentset]
"""Each registers one controller on the manager (``manager.controller(...)...complete(r)``)."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> _Parser:
    """The flags default to None: :func:`cli.controller_config.resolve` fills what is
    not given from the environment, the config file and the defaults."""
    parser = _Parser(prog=PROG, description="The simple-dcos controller manager.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="Run the controllers until SIGTERM/SIGINT.")
    run.add_argument(
        "--config",
        metavar="FILE",
        help="YAML settings file: any flag below, etcd credentials and TLS files "
        "(else $DCOS_CONTROLLER_CONFIG). A flag beats the environment, which beats the file.",
    )
    run.add_argument(
        "--etcd",
        metavar="URL[,URL]",
        help="etcd endpoints (else $DCOS_ETCD, else http://127.0.0.1:2379).",
    )
    run.add_argument("--prefix", help="Key prefix in etcd (default /dcos).")
    run.add_argument(
        "--mesos",
        metavar="URL[,URL]",
        help="Mesos masters: run the framework and the App controller (else $DCOS_MESOS).",
    )
    run.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        help="Where /metrics and /healthz are served (default 127.0.0.1:9100).",
    )
    run.add_argument(
        "--id", metavar="NAME", help="This replica's identity in the election (default host-pid)."
    )
    run.add_argument(
        "--lease-ttl",
        type=int,
        metavar="SECONDS",
        help="Leader lease TTL: failover time (default 5).",
    )
    run.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="Per etcd request (default 5)."
    )
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="Logging threshold (default info).",
    )
    run.add_argument(
        "--cmdb",
        metavar="URL",
        help="NetBox (the CMDB): the container-to-host write-back and the Host controller "
        "(else $DCOS_CMDB). Its token comes from $DCOS_CMDB_TOKEN or the config file only.",
    )
    run.add_argument("--cmdb-role", metavar="ROLE", help="CMDB devices with this role are hosts.")
    run.add_argument("--cmdb-tag", metavar="TAG", help="CMDB devices with this tag are hosts.")
    run.add_argument(
        "--dashboard",
        action=argparse.BooleanOptionalAction,
        help="Serve the read-only web dashboard on the metrics address (default: on).",
    )
    return parser


def _check(args: argparse.Namespace) -> None:
    """_UsageError for settings argparse cannot check, once flags, environment,
    config file and defaults are resolved."""
    from cli.controller_config import ConfigError, check, resolve

    try:
        resolve(args)
        check(args)
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None


def _error(message: str) -> None:
    line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {line}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        _check(args)
    except _UsageError as exc:
        _error(str(exc))
        return USAGE
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from crds.errors import DcosError

    try:
        asyncio.run(_run(args))
    except DcosError as exc:
        _error(str(exc))
        return ERROR
    except OSError as exc:
        _error(f"{args.metrics_addr}: {exc.strerror or exc}")
        return ERROR
    return 0


async def _run(args: argparse.Namespace) -> None:
    import crds.kinds  # noqa: F401  (registers the kinds)
    from adapters.etcd import EtcdSettings, open_store
    from adapters.etcd.leader import EtcdLeaderElector, FencedStore
    from crds.errors import SpecError
    from reconciler.runtime import Manager, ManagerSettings

    try:
        settings = EtcdSettings(
            endpoints=tuple(part.strip() for part in args.etcd.split(",")),
            prefix=args.prefix,
            timeout=args.timeout,
            username=args.etcd_username,
            password=args.etcd_password,
            ca_file=args.etcd_ca_file,
            cert_file=args.etcd_cert_file,
            key_file=args.etcd_key_file,
        )
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    async with open_store(settings) as store, contextlib.AsyncExitStack() as stack:
        elector = EtcdLeaderElector(store, identity=args.id, election=ELECTION, ttl=args.lease_ttl)
        fenced = FencedStore(store, elector)
        manager = Manager(
            fenced,
            elector=elector,
            settings=ManagerSettings(metrics_addr=args.metrics_addr),
        )
        cmdb = await _open_cmdb(args, stack)
        for register in CONTROLLERS:
            register(manager)
        await _register_hosts(manager, args, stack, cmdb=cmdb)
        await _register_scaling(manager, args, stack)
        if args.mesos is not None:
            await _register_mesos(manager, args.mesos, fenced, stack, cmdb=cmdb)
        if args.dashboard:
            from reconciler import dashboard

            dashboard.register(manager)
        manager.bind()
        stop = asyncio.Event()
        main_task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if not stop.is_set():
                logger.info("%s: stopping", signal.Signals(signum).name)
                stop.set()
            elif main_task is not None:
                logger.warning("second signal: cancelling what is left")
                main_task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        logger.info(
            "%s: running as %r on etcd %s (prefix %s), %d controllers",
            PROG,
            args.id,
            store.endpoint,
            args.prefix,
            len(manager.controllers),
        )
        try:
            await manager.run(stop)
        except asyncio.CancelledError:
            if not stop.is_set():
                raise
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


async def _register_hosts(
    manager: Manager,
    args: argparse.Namespace,
    stack: contextlib.AsyncExitStack,
    *,
    cmdb: Cmdb | None = None,
) -> None:
    """The Host controller: the CMDB mirror with ``cmdb``, the Mesos operator API on
    ``--mesos``, each host's Docker engine; IPAM through the fenced store."""
    from adapters.docker_host import DockerHostReader, EngineEndpoint
    from adapters.etcd import EtcdStore
    from adapters.etcd.ipam import EtcdIpam
    from crds.host import HostEngine
    from reconciler.controllers import host
    from reconciler.hosts.mirror import MirrorSettings

    def engine(spec: HostEngine) -> DockerHostReader:
        endpoint = EngineEndpoint(spec.url, spec.ca_file, spec.cert_file, spec.key_file)
        return DockerHostReader(endpoint, network=spec.network)

    operator = None
    if args.mesos is not None:
        from adapters.mesos.http import MesosSettings
        from adapters.mesos.operator import MesosOperatorClient

        urls = tuple(part.strip() for part in args.mesos.split(","))
        operator = await stack.enter_async_context(MesosOperatorClient(MesosSettings(masters=urls)))
    assert isinstance(manager.store, EtcdStore)
    mirror = MirrorSettings(role=args.cmdb_role, tag=args.cmdb_tag)
    host.register(
        manager,
        ipam=EtcdIpam(manager.store),
        cmdb=cmdb,
        mesos=operator,
        engines=engine,
        settings=host.HostSettings(mirror=mirror),
    )


async def _register_scaling(
    manager: Manager, args: argparse.Namespace, stack: contextlib.AsyncExitStack
) -> None:
    """The ScalingPolicy controller: an App's instances from schedules (etcd only) and,
    for metric rules, load from the Docker engines of the Hosts that declare one
    (``spec.engine``) and else, with ``--mesos``, from the agents'
    ``/monitor/statistics``. Without either a metric rule waits (its load is unknown)."""
    from adapters.docker_host import DockerHostReader, EngineEndpoint
    from crds.host import HostEngine
    from reconciler.controllers import scalingpolicy
    from reconciler.scaling.metrics import EngineUsage, FirstOf, MetricSource, UsageMetrics

    def open_engine(spec: HostEngine) -> DockerHostReader:
        endpoint = EngineEndpoint(spec.url, spec.ca_file, spec.cert_file, spec.key_file)
        reader = DockerHostReader(endpoint, network=spec.network)
        stack.push_async_callback(reader.close)
        return reader

    store = manager.store
    sources: list[MetricSource] = [
        UsageMetrics(EngineUsage(store, open_engine), store, name="docker stats")
    ]
    if args.mesos is not None:
        from adapters.mesos.http import MesosSettings
        from adapters.mesos.monitor import MesosAgentMonitor

        urls = tuple(part.strip() for part in args.mesos.split(","))
        monitor = await stack.enter_async_context(MesosAgentMonitor(MesosSettings(masters=urls)))
        sources.append(UsageMetrics(monitor, store, name="agent statistics"))
    scalingpolicy.register(manager, metrics=FirstOf(*sources))


async def _open_cmdb(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Cmdb | None:
    """The CMDB client of ``--cmdb`` (closed with ``stack``); None without it."""
    if args.cmdb is None:
        return None
    from adapters.cmdb import CmdbSettings, NetboxCmdb

    client = NetboxCmdb(CmdbSettings(url=args.cmdb, token=args.cmdb_token))
    await stack.enter_async_context(client)
    filters = [f"{k} {v}" for k, v in (("role", args.cmdb_role), ("tag", args.cmdb_tag)) if v]
    logger.info("CMDB at %s (hosts: %s)", args.cmdb, ", ".join(filters) or "every device")
    return client


async def _register_mesos(
    manager: Manager,
    masters: str,
    store: FencedStore,
    stack: contextlib.AsyncExitStack,
    *,
    cmdb: Cmdb | None = None,
) -> None:
    """The Mesos framework and the App controller, on ``masters``; with ``cmdb``, the
    write-back of the container-to-host mapping (:mod:`reconciler.cmdb.mapping`)."""
    from adapters.etcd.ipam import EtcdIpam
    from adapters.mesos.http import MesosSettings
    from adapters.mesos.scheduler import MesosSchedulerClient
    from adapters.mesos.tasks import MesosWireCodec
    from reconciler.controllers import app

    urls = tuple(part.strip() for part in masters.split(","))
    client = await stack.enter_async_context(MesosSchedulerClient(MesosSettings(masters=urls)))
    # Addresses are claimed and released through the fenced store: a deposed leader
    # allocates nothing.
    framework = app.new_framework(
        manager, mesos=client, codec=MesosWireCodec(), store=store, ipam=EtcdIpam(store)
    )
    app.register(manager, framework=framework)
    domains = await _register_domains(manager, urls, stack, instances=framework.records.all)
    from reconciler.controllers.domain import USAGE_DELAY
    from reconciler.runtime import Request

    # A domain's used and borrowed figures follow its instances (one pass per second
    # at most), not only the resync.
    framework.records.add_listener(
        lambda domain, _app: domains.enqueue_after(Request("Domain", None, domain), USAGE_DELAY)
    )
    _pools_follow_instances(manager, framework.records.add_listener, USAGE_DELAY)
    from reconciler.controllers import registrymirror

    registrymirror.register(manager, instances=framework.records.all)
    if cmdb is not None:
        from reconciler.cmdb import mapping

        mapping.register(manager, records=framework.records, cmdb=cmdb)
        logger.info("the container-to-host mapping is written back to the CMDB")
    logger.info("Mesos framework on %s with the App controller", ", ".join(urls))


def _pools_follow_instances(
    manager: Manager,
    add_listener: Callable[[Callable[[str, str], None]], None],
    delay: float,
) -> None:
    """An App's instances changing wakes the IPPool controller for the App's pool
    (one pass per ``delay`` at most), so its used figures follow the addresses
    taken and released, not only the resync."""
    from adapters.protocols import ObjectKey
    from crds.app import App, ContainerNetwork
    from reconciler.runtime import Request

    controller = next((c for c in manager.controllers if c.name == "ippool"), None)
    if controller is None:
        return
    wake = controller
    apps, pools = manager.informer("App"), manager.informer("IPPool")

    def changed(domain: str, name: str) -> None:
        app = apps.get(ObjectKey("App", domain, name))
        if not isinstance(app, App) or app.spec.network is ContainerNetwork.HOST:
            return
        # without ipPool an instance takes an address of its host's pool: any of them
        names = [app.spec.ip_pool] if app.spec.ip_pool else [p.metadata.name for p in pools.list()]
        for pool in names:
            wake.enqueue_after(Request("IPPool", None, pool), delay)

    add_listener(changed)


async def _register_domains(
    manager: Manager,
    urls: tuple[str, ...],
    stack: contextlib.AsyncExitStack,
    *,
    instances: Callable[[], Iterable[Instance]],
) -> Controller:
    """The Domain controller: dynamic reservations and quota through the operator API."""
    from adapters.mesos.http import MesosSettings
    from adapters.mesos.operator import MesosOperatorClient
    from reconciler.controllers import domain

    operator = await stack.enter_async_context(MesosOperatorClient(MesosSettings(masters=urls)))
    return domain.register(manager, mesos=operator, instances=instances)


def run() -> NoReturn:
    """The console script's entry point."""
    code = main()
    # The interpreter's exit runs full garbage collections over every object still
    # alive (modules, caches): hundreds of milliseconds with large caches. Frozen
    # objects are skipped; the process is about to end, so nothing is lost.
    gc.freeze()
    sys.exit(code)
