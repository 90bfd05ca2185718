"""A TLS-terminating proxy in front of a test server, and certificates made with openssl."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class Authority:
    """A certificate authority made for one test: its certificate and key files."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_authority(directory: Path, name: str) -> Authority:
    """A self-signed CA named *name* in *directory*."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
        # What Python 3.13's strict verification (VERIFY_X509_STRICT) asks of a CA.
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    return Authority(cert, key)


def issue(authority: Authority, directory: Path, name: str, *, server: bool) -> tuple[Path, Path]:
    """A certificate and key for *name*, signed by *authority* (for 127.0.0.1 if *server*)."""
    cert, key, request = (directory / f"{name}{ext}" for ext in (".crt", ".key", ".csr"))
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    extensions = directory / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    names = "subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else ""
    extensions.write_text(
        f"{names}extendedKeyUsage={usage}\n"
        # ... and of a certificate it signs.
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(authority.cert),
        "-CAkey", str(authority.key), "-CAcreateserial", "-days", "2",
        "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return cert, key


class TLSProxy:
    """Accept TLS on 127.0.0.1:<port> and forward the plaintext to a server.

    :param cert: the server certificate; :param key: its key.
    :param upstream_port: the (plaintext) server's port on 127.0.0.1.
    :param client_ca: if given, clients must present a certificate signed by it.
    """

    def __init__(
        self, cert: Path, key: Path, upstream_port: int = 5672, client_ca: Path | None = None
    ) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        if client_ca is not None:
            self.context.load_verify_locations(client_ca)
            self.context.verify_mode = ssl.CERT_REQUIRED
        self.upstream_port = upstream_port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> TLSProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, upstream), self._pipe(upstream_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
