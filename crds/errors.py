"""One hierarchy for every failure simple-dcos reports.

Callers catch at the level they can handle; adapters translate library
exceptions at their boundary (``raise Unavailable(...) from exc``), so an
``aetcd`` or ``httpx`` exception never reaches a controller or the CLI::

    DcosError
    ├── SpecError                 a document or field is invalid (file, field, message)
    ├── AdapterError              an external system failed or refused
    │   ├── StoreError            etcd
    │   │   ├── NotFound          the object does not exist
    │   │   ├── ConflictError     compare-and-swap lost (stale resourceVersion)
    │   │   │   ├── AlreadyExists create of a name that is taken
    │   │   │   └── NotLeader     a fenced write by a leader whose term is over
    │   │   └── Unavailable       etcd cannot be reached (names the endpoint)
    │   ├── MesosError
    │   │   ├── MesosUnavailable
    │   │   └── MesosRejected
    │   ├── DockerError           the Docker engine (``status``: its HTTP status, if any)
    │   └── CmdbError
    │       ├── CmdbUnavailable   unreachable or 5xx after retries
    │       └── CmdbRejected      a 4xx (``status``, ``field``)
    └── TerminalError             retrying cannot help; the runtime does not requeue

The module lives in ``crds`` because it is the bottom layer: every other
package may import it, and it imports nothing.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AlreadyExists",
    "CmdbError",
    "CmdbRejected",
    "CmdbUnavailable",
    "ConflictError",
    "DcosError",
    "DockerError",
    "MesosError",
    "MesosRejected",
    "MesosUnavailable",
    "NotFound",
    "NotLeader",
    "SpecError",
    "StoreError",
    "TerminalError",
    "Unavailable",
]


class DcosError(Exception):
    """Base of every error simple-dcos raises on purpose."""


class SpecError(DcosError):
    """A document is invalid.

    ``str(err)`` is one line naming where (file, document, field) and what is wrong.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        document: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.document = document
        self.field = field
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.source is not None:
            where.append(self.source)
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.field:
            where.append(self.field)
        return f"{': '.join(where)}: {self.message}" if where else self.message


class AdapterError(DcosError):
    """An external system (etcd, Mesos, Docker, the CMDB) failed or refused."""


class StoreError(AdapterError):
    """The etcd store failed."""


class NotFound(StoreError):
    """The object does not exist."""


class ConflictError(StoreError):
    """A compare-and-swap lost: the object changed since it was read."""


class AlreadyExists(ConflictError):
    """A create named an object that exists already."""


class Unavailable(StoreError):
    """etcd cannot be reached; the message names the endpoint."""


class MesosError(AdapterError):
    """The Mesos master failed or refused."""


class MesosUnavailable(MesosError):
    """No Mesos master answers."""


class MesosRejected(MesosError):
    """The Mesos master answered with an error status."""


class CmdbError(AdapterError):
    """The CMDB failed or refused."""


class CmdbUnavailable(CmdbError):
    """The CMDB cannot be reached or answered 5xx after the client's retries; try again later."""


class CmdbRejected(CmdbError):
    """The CMDB refused a request (4xx); ``str(err)`` names the object and the field.

    ``status`` is the HTTP status, ``field`` the first field NetBox complained
    about (None when the error is not about a field).
    """

    def __init__(self, message: str, *, status: int, field: str | None = None) -> None:
        self.status = status
        self.field = field
        super().__init__(message)


class TerminalError(DcosError):
    """Retrying cannot help: the controller runtime does not requeue the key."""


class DockerError(AdapterError):
    """The Docker engine failed or refused; ``status`` is the API's HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class NotLeader(ConflictError):
    """A write fenced by a leader's term, sent after the term ended; nothing was written."""
