"""The object store on etcd (via aetcd), implementing :class:`adapters.protocols.Store`.

Modules, from the wire up:

- :mod:`.settings` — :class:`EtcdSettings`: endpoints, prefix, credentials, TLS, limits;
- :mod:`.client` — the aetcd/gRPC boundary: typed calls, timeouts, error translation;
- :mod:`.keys` — the key layout (``<prefix>/spec|status/<Kind>/<domain|_>/<name>``);
- :mod:`.codec` — objects to JSON values and back;
- :mod:`.writes` — compare-and-swap transactions, batched by ``commit``;
- :mod:`.watch` — etcd events to object events, resume and relist after compaction;
- :mod:`.events` — Events on leases;
- :mod:`.ipam` — :class:`EtcdIpam`, IPPool blocks and addresses claimed create-if-absent;
- :mod:`.store` — :class:`EtcdStore` and :func:`open_store`, which tie them together.

Usage::

    async with open_store(EtcdSettings(endpoints=("http://127.0.0.1:2379",))) as store:
        app = await store.get(ObjectKey("App", "shop", "web"))
"""

from adapters.etcd.ipam import EtcdIpam
from adapters.etcd.settings import EtcdSettings
from adapters.etcd.store import EtcdStore, open_store

__all__ = ["EtcdIpam", "EtcdSettings", "EtcdStore", "open_store"]
