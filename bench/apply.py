"""Apply of 1,000 App objects from one folder, through the dcosctl binary.

The figure is objects per second of wall time, start-up included, for a first
apply (all created) and a re-apply (all unchanged).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.common import Figure, app_doc, dcosctl, domain_doc, etcd

COUNT = 1000


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, etcd() as server:
        folder = Path(tmp)
        (folder / "domain.yaml").write_text(json.dumps(domain_doc("bench")))
        for i in range(COUNT):
            (folder / f"app-{i:04d}.yaml").write_text(json.dumps(app_doc(f"app-{i:04d}", "bench")))
        first = dcosctl(server.endpoint, "/bench", "apply", "-f", str(folder))
        again = dcosctl(server.endpoint, "/bench", "apply", "-f", str(folder))
    n = COUNT + 1
    return [
        Figure("apply 1,000 Apps from one folder (create)", n / first, "objects/s", ">= 1,000"),
        Figure("apply 1,000 Apps from one folder (unchanged)", n / again, "objects/s", ">= 1,000"),
    ]
