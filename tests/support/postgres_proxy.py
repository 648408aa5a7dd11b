"""A TCP proxy in front of PostgreSQL: counts round trips, and can be cut to play an outage.

A round trip is a frontend message the client then waits on: `Sync` (the end of one
extended-protocol exchange: Parse/Bind/Execute) or `Query` (simple protocol: BEGIN, COMMIT,
RESET ALL). Counts are kept per `application_name` from each connection's startup message, so a
runtime's pool (`thidua-<schema>`) is told apart from its relay's own connection. The proxy
answers "no" to SSL so the messages stay readable; asyncpg's default (`prefer`) accepts that.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_WAITED_ON = {ord("S"), ord("Q")}


class PostgresProxy:
    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        query = dict(parse_qsl(parts.query))
        socket_dir = query.pop("host", None)  # the embedded server listens on a unix socket
        port = int(query.pop("port", None) or parts.port or 5432)
        self._unix_socket = f"{socket_dir}/.s.PGSQL.{port}" if socket_dir else None
        self._tcp = (parts.hostname or "127.0.0.1", port)
        self._url = parts._replace(query=urlencode(query))
        self._server: asyncio.Server | None = None
        self._port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.round_trips: Counter[str] = Counter()

    async def start(self) -> str:
        """Listen on a free port; return the database URL rewritten to go through the proxy."""
        await self._listen()
        userinfo = self._url.netloc.rpartition("@")[0] if "@" in self._url.netloc else ""
        host = f"127.0.0.1:{self._port}"
        return urlunsplit(self._url._replace(netloc=f"{userinfo}@{host}" if userinfo else host))

    async def cut(self) -> None:
        """The database goes away: open connections drop and new ones are refused."""
        await self.stop()

    async def restore(self) -> None:
        """The database is back, at the same address."""
        await self._listen()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._unix_socket:
            up_reader, up_writer = await asyncio.open_unix_connection(self._unix_socket)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self._tcp)
        self._writers |= {writer, up_writer}
        try:
            application = await self._startup(reader, writer, up_writer)
            await asyncio.gather(
                self._client_to_server(reader, up_writer, application), _pipe(up_reader, writer)
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _startup(self, reader, writer, up_writer) -> str:
        while True:
            length = struct.unpack("!I", await reader.readexactly(4))[0]
            body = await reader.readexactly(length - 4)
            code = struct.unpack("!I", body[:4])[0]
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            up_writer.write(struct.pack("!I", length) + body)
            fields = body[4:].split(b"\0")
            params = dict(zip(fields[::2], fields[1::2], strict=False))
            return params.get(b"application_name", b"").decode()

    async def _client_to_server(self, reader, up_writer, application: str) -> None:
        while True:
            header = await reader.readexactly(5)
            body = await reader.readexactly(struct.unpack("!I", header[1:])[0] - 4)
            if header[0] in _WAITED_ON:
                self.round_trips[application] += 1
            up_writer.write(header + body)
            await up_writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(ConnectionError):
        writer.close()
