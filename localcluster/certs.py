"""A throwaway certificate authority for a local etcd with mutual TLS.

:func:`make_ca` writes, into one folder, a CA (``ca.pem``, ``ca-key.pem``) and
a server certificate it signed for ``127.0.0.1`` and ``localhost``
(``server.pem``, ``server-key.pem``); :meth:`Certificates.client` issues a
client certificate (``<name>.pem``, ``<name>-key.pem``). Keys are ECDSA P-256,
which is quick to generate and which etcd, gRPC and ``etcdctl`` all accept;
private keys are written with mode 0600.

The work is done by the ``openssl`` command (``make test`` installs Debian's
package when it is missing) rather than by the ``cryptography`` package: no
new Python dependency, and the commands are the ones an operator runs for a
real CA. This is for tests and local use; a data center's certificates come
from its own CA.

etcd with ``--client-cert-auth`` and auth enabled takes a client
certificate's common name as the etcd user when a request carries no token,
so a client certificate whose CN is an etcd user logs in as that user with no
password. :meth:`Certificates.client` therefore defaults to a CN that is no
etcd user: the certificate lets a client reach etcd, the password says who
it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLIENT_CN", "CertPair", "Certificates", "make_ca"]

logger = logging.getLogger(__name__)

CLIENT_CN = "dcos-client"
"""The common name of client certificates: deliberately no etcd user."""

_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class CertPair:
    """A PEM certificate and its PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Certificates:
    """The files :func:`make_ca` wrote; :meth:`client` issues more."""

    directory: Path
    ca: Path
    ca_key: Path
    server: CertPair
    days: int = 30

    def client(self, name: str = "client", *, common_name: str = CLIENT_CN) -> CertPair:
        """A client certificate signed by the CA, as ``<name>.pem``/``<name>-key.pem``
        (reused when both files exist)."""
        pair = CertPair(self.directory / f"{name}.pem", self.directory / f"{name}-key.pem")
        if not (pair.cert.exists() and pair.key.exists()):
            _issue(self, pair, common_name=common_name, extensions=_CLIENT_EXT)
        return pair


_CA_EXT = (
    "basicConstraints=critical,CA:TRUE\n"
    "keyUsage=critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier=hash\n"
)
_SERVER_EXT = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth,clientAuth\n"
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
)
_CLIENT_EXT = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=clientAuth\n"
)


def openssl_binary() -> str:
    found = shutil.which("openssl")
    if found is None:
        raise FileNotFoundError("no openssl command: install it (apt-get install openssl)")
    return found


def _run(*argv: str) -> None:
    result = subprocess.run(
        [openssl_binary(), *argv], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"openssl {argv[0]} failed: {last}")


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def make_ca(directory: Path, *, days: int = 30, name: str = "simple-dcos local CA") -> Certificates:
    """Create (or reuse) the CA and the 127.0.0.1/localhost server certificate in
    ``directory``, which is created with mode 0700."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    certs = Certificates(
        directory=directory,
        ca=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        server=CertPair(directory / "server.pem", directory / "server-key.pem"),
        days=days,
    )
    if not (certs.ca.exists() and certs.ca_key.exists()):
        _run(
            "req", "-x509", *_CURVE, "-days", str(days), "-subj", f"/CN={name}",
            "-config", _minimal_config(directory), "-extensions", "v3",
            "-keyout", str(certs.ca_key), "-out", str(certs.ca),
        )  # fmt: skip
        _private(certs.ca_key)
        logger.info("created a CA in %s", directory)
    if not (certs.server.cert.exists() and certs.server.key.exists()):
        _issue(certs, certs.server, common_name="etcd", extensions=_SERVER_EXT)
    return certs


def _minimal_config(directory: Path) -> str:
    """An openssl config with only the CA's extensions, so the system's
    openssl.cnf (which may not exist) plays no part."""
    path = directory / "openssl-ca.cnf"
    if not path.exists():
        path.write_text("[req]\ndistinguished_name=dn\n[dn]\n[v3]\n" + _CA_EXT)
    return str(path)


def _issue(certs: Certificates, pair: CertPair, *, common_name: str, extensions: str) -> None:
    directory = certs.directory
    with (
        tempfile.NamedTemporaryFile("w", suffix=".cnf", dir=directory) as ext,
        tempfile.NamedTemporaryFile(suffix=".csr", dir=directory) as csr,
    ):
        ext.write(extensions)
        ext.flush()
        _run(
            "req", "-new", *_CURVE, "-subj", f"/CN={common_name}",
            "-config", _minimal_config(directory),
            "-keyout", str(pair.key), "-out", csr.name,
        )  # fmt: skip
        _private(pair.key)
        _run(
            "x509", "-req", "-in", csr.name, "-CA", str(certs.ca), "-CAkey", str(certs.ca_key),
            "-set_serial", str(int.from_bytes(os.urandom(16), "big") >> 1),
            "-days", str(certs.days), "-extfile", ext.name, "-out", str(pair.cert),
        )  # fmt: skip
    logger.info("issued %s for CN=%s", pair.cert, common_name)
