"""Live Remote ID receivers: lines (see :mod:`dronewatch.formats.remoteid.receiver`) from a
socket or a serial device, decoded and reassembled into ``remoteid`` detections.

Where the lines come from, by URL:

- ``udp://HOST:PORT``: listen for datagrams (one or more lines each), e.g. ESP32 boards
  broadcasting on the site network;
- ``tcp://HOST:PORT``: connect to a receiver that serves lines, reconnecting with back-off
  when the connection drops;
- ``tcp-listen://HOST:PORT``: accept receivers that connect and push lines;
- ``serial:///dev/ttyACM0``, a plain path, or ``-`` for standard input: read lines from a
  tty, FIFO or file (set the tty's speed with ``stty`` first); the stream ends at end of file.

A bad line is counted with its reason and skipped; it never stops the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from dronewatch.errors import ConfigError, FormatError
from dronewatch.formats.remoteid.receiver import parse_receiver_line
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.model import Detection
from dronewatch.service.worker import backoff_s

MAX_LINE_BYTES = 8192
MAX_CONNECTIONS = 64
_READ_BYTES = 1 << 16
_UDP_BUFFER_BYTES = 4 << 20


@dataclass(slots=True)
class LiveStats:
    lines: int = 0
    frames: int = 0
    detections: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    def reject(self, where: str, reason: str) -> None:
        # reasons may quote what came: past 100 different ones, the rest are counted together
        self.rejected[reason if reason in self.rejected or len(self.rejected) < 100 else "other"] += 1
        if len(self.first_errors) < 20:
            self.first_errors.append(f"{where}: {reason}")

    def summary(self) -> str:
        return (f"{self.lines} lines, {self.frames} Remote ID frames, {self.detections} detections, "
                f"{sum(self.rejected.values())} rejected")


_Line = tuple[float, str, bytes]  # received at, peer, raw line
_Chunk = tuple[float, str, list[bytes]]  # the lines of one datagram or one read, received together


class ReceiverStream:
    """Lines from the receivers at ``url``: ``async with ReceiverStream(url) as s: async for ...``;
    :meth:`chunks` gives them as they came in (a datagram's lines together)."""

    def __init__(self, url: str, stats: LiveStats | None = None, max_line_bytes: int = MAX_LINE_BYTES,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.url = url
        self.stats = stats if stats is not None else LiveStats()
        self.max_line_bytes = max_line_bytes
        self.max_connections = max_connections
        """At most this many receivers connected at once to a ``tcp-listen`` stream (more are refused, counted)."""
        self.address: tuple[str, int] | None = None
        """The bound (listening) or remote address, once open."""
        self._queue: asyncio.Queue[_Chunk | None] = asyncio.Queue()
        self._closers: list[Callable[[], Any]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> ReceiverStream:
        parts = urlsplit(self.url)
        scheme = parts.scheme if "://" in self.url else "serial"
        if scheme in ("udp", "tcp", "tcp-listen"):
            if not parts.hostname or parts.port is None:
                raise ConfigError(f"receiver {self.url!r}: expected {scheme}://HOST:PORT")
            await {"udp": self._udp, "tcp": self._tcp, "tcp-listen": self._tcp_listen}[scheme](
                parts.hostname, parts.port)
        elif scheme == "serial":
            path = parts.path if "://" in self.url else self.url
            self._read_file(path)
        else:
            raise ConfigError(f"receiver {self.url!r}: scheme must be udp, tcp, tcp-listen or serial")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        for close in reversed(self._closers):
            close()
        await asyncio.sleep(0)  # let connection handlers see their end
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __aiter__(self) -> AsyncIterator[_Line]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[_Line]:
        async for received_at, peer, lines in self.chunks():
            for raw in lines:
                yield received_at, peer, raw

    async def chunks(self) -> AsyncIterator[_Chunk]:
        while (item := await self._queue.get()) is not None:
            yield item

    def _too_long(self, peer: str) -> None:
        self.stats.reject(peer, f"line too long: over {self.max_line_bytes} bytes")

    def _put(self, peer: str, data: bytes) -> None:
        lines = []
        for raw in data.splitlines():
            if len(raw) > self.max_line_bytes:
                self._too_long(peer)
            else:
                lines.append(raw)
        if lines:
            self._queue.put_nowait((time.time(), peer, lines))

    async def _udp(self, host: str, port: int) -> None:
        stream = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
                stream._put(f"{addr[0]}:{addr[1]}", data)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Protocol, local_addr=(host, port))
        with contextlib.suppress(OSError):  # bursts from many boards: ask for more than the default buffer
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_BUFFER_BYTES)
        self.address = transport.get_extra_info("sockname")[:2]
        self._closers.append(transport.close)

    async def _read_lines(self, reader: asyncio.StreamReader, peer: str) -> None:
        """A connection's lines, as many as each read brings; a line over the limit is refused whole (counted
        once), up to its newline, however many reads it spans: its tail is never taken for a line."""
        pending = b""
        dropping = False  # inside a line already refused
        while data := await reader.read(_READ_BYTES):
            *complete, pending = (pending + data).split(b"\n")
            lines = []
            for raw in complete:
                if dropping:
                    dropping = False
                elif len(raw) > self.max_line_bytes:
                    self._too_long(peer)
                else:
                    lines.append(raw.rstrip(b"\r"))
            if len(pending) > self.max_line_bytes:
                if not dropping:
                    self._too_long(peer)
                dropping, pending = True, b""
            if lines:
                self._queue.put_nowait((time.time(), peer, lines))
        if pending and not dropping:
            self._queue.put_nowait((time.time(), peer, [pending.rstrip(b"\r")]))

    async def _tcp_listen(self, host: str, port: int) -> None:
        connections: set[asyncio.StreamWriter] = set()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            where = f"{peer[0]}:{peer[1]}" if peer else "?"
            if len(connections) >= self.max_connections:
                self.stats.reject(where, f"too many connections: over {self.max_connections}")
                writer.close()
                return
            connections.add(writer)
            try:
                await self._read_lines(reader, where)
            except OSError:
                pass  # the peer went away: its lines so far are in
            finally:
                connections.discard(writer)
                writer.close()

        def close_all() -> None:
            for writer in list(connections):
                writer.close()

        self._closers.append(close_all)
        server = await asyncio.start_server(serve, host, port, limit=self.max_line_bytes)
        self.address = server.sockets[0].getsockname()[:2]
        self._closers.append(server.close)

    async def _tcp(self, host: str, port: int) -> None:
        self.address = (host, port)

        async def connect() -> None:
            attempt = 0
            while True:
                try:
                    reader, writer = await asyncio.open_connection(host, port, limit=self.max_line_bytes)
                except OSError as error:
                    self.stats.reject(f"{host}:{port}", f"connection failed: {error}")
                else:
                    attempt = 0
                    try:
                        await self._read_lines(reader, f"{host}:{port}")
                    except OSError as error:  # reset by the receiver: connect again
                        self.stats.reject(f"{host}:{port}", f"connection lost: {error}")
                    finally:
                        writer.close()
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1

        self._tasks.append(asyncio.create_task(connect()))

    def _read_file(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            source: IO[bytes] = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
        except OSError as error:
            raise ConfigError(f"receiver {path!r}: {error.strerror}") from None
        name = "stdin" if path == "-" else path

        def pump() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                for raw in source:
                    loop.call_soon_threadsafe(self._put, name, raw)
                loop.call_soon_threadsafe(self._queue.put_nowait, None)

        threading.Thread(target=pump, name=f"receiver {name}", daemon=True).start()
        if source is not sys.stdin.buffer:
            self._closers.append(source.close)


async def live_detections(stream: ReceiverStream, assembler: RemoteIdAssembler) -> AsyncIterator[Detection]:
    """The detections the stream's lines complete, as they arrive."""
    stats = stream.stats
    async for received_at, peer, raw in stream:
        stats.lines += 1
        try:
            frames = parse_receiver_line(raw.decode("ascii", errors="replace"), received_at, peer)
        except FormatError as error:
            stats.reject(f"{peer} line {stats.lines}", error.reason)
            continue
        for frame in frames:
            stats.frames += 1
            for detection in assembler.add(frame.t, frame.sender, frame.messages):
                stats.detections += 1
                yield detection
