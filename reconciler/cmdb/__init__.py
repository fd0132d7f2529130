"""Writing the container-to-host mapping back to the CMDB.

:mod:`.writeback` keeps the desired mapping (task → address, host, app) and
what the CMDB is known to hold, and brings the CMDB in step through the
:class:`adapters.protocols.Cmdb` seam, surviving CMDB outages.
:mod:`.mapping` says what that mapping is (instance records -> addresses)
and feeds the queue from the records while the controller manager leads.
"""

from reconciler.cmdb.writeback import (
    Put,
    Remove,
    WriteBack,
    WriteBackSettings,
    changes,
)

__all__ = ["Put", "Remove", "WriteBack", "WriteBackSettings", "changes"]
