"""A TCP proxy on 127.0.0.1:0 whose connections a test can cut at will: real network failures of a real
client's stream, without touching the server behind it."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._cut_after: int | None = None

    def cut_after(self, downstream_bytes: int) -> None:
        """Cuts every connection once this many more bytes went from the server to clients (once)."""
        self._cut_after = downstream_bytes

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def cut(self) -> int:
        """Resets every open connection (both sides); returns how many there were."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.transport.abort()
        return len(writers) // 2

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        pipes = [asyncio.create_task(self._pipe(client_reader, server_writer)),
                 asyncio.create_task(self._pipe(server_reader, client_writer, downstream=True))]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, server_writer):
            writer.transport.abort()
            self._writers.discard(writer)
        for pipe in pipes:
            pipe.cancel()
            self._tasks.discard(pipe)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, downstream: bool = False) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if downstream and self._cut_after is not None:
                    if len(data) >= self._cut_after:
                        writer.write(data[:self._cut_after])
                        self._cut_after = None
                        self.cut()
                        return
                    self._cut_after -= len(data)
                writer.write(data)
                await writer.drain()
