"""The stdio transport: the SDK's own, plus what it leaves out.

- When each message arrived: the thread that reads stdin stamps every line, and the
  stamp travels with the message (the SDK runs each handler in the context its message
  was sent from), so the audit log can say how long a call waited before its handler
  ran, not only how long the handler took.
- An answer to a line that is not JSON-RPC: the SDK drops it silently, leaving the
  client waiting; here it gets a JSON-RPC parse error (-32700) or invalid-request error
  (-32600), with the request's id when one can be read.

Like the SDK, the server keeps fd 0 and fd 1 for itself and points them at the null
device and stderr while it serves, so stray output of a library never reaches the wire.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.to_thread

#: `time.perf_counter()` when the message being handled was read from stdin.
RECEIVED_AT: ContextVar[float | None] = ContextVar("osiris_received_at", default=None)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


class _StampedLines:
    """stdin as an async iterator of lines, each stamped with when it was read."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text

    def __aiter__(self) -> _StampedLines:
        return self

    async def __anext__(self) -> str:
        line, at = await anyio.to_thread.run_sync(self._read, abandon_on_cancel=True)
        if not line:
            raise StopAsyncIteration
        RECEIVED_AT.set(at)  # copied with the message into its handler's context
        return line

    def _read(self) -> tuple[str, float]:
        line = self._text.readline()
        return line, time.perf_counter()


class _AnsweringBadLines:
    """The read stream, with each line the SDK could not parse answered, not dropped."""

    def __init__(self, inner: Any, write_stream: Any) -> None:
        self._inner = inner
        self._write = write_stream

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def __aenter__(self) -> _AnsweringBadLines:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)

    def __aiter__(self) -> _AnsweringBadLines:
        return self

    async def __anext__(self) -> Any:
        while True:
            item = await self._inner.__anext__()
            if not isinstance(item, Exception):
                return item
            await self._write.send(_error_message(item))

    async def receive(self) -> Any:
        return await self.__anext__()

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _error_message(err: Exception) -> Any:
    """The JSON-RPC error answering a line the SDK refused (`err` says why)."""
    from mcp.shared.message import SessionMessage
    from mcp_types import ErrorData, JSONRPCError

    errors = getattr(err, "errors", None)
    kinds = {e.get("type") for e in errors()} if callable(errors) else set()
    line = _input_of(err)
    if "json_invalid" in kinds or line is None:
        error = ErrorData(code=PARSE_ERROR, message="Parse error: the line is not valid JSON")
        return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=error))
    request_id = line.get("id") if isinstance(line, dict) else None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    error = ErrorData(
        code=INVALID_REQUEST,
        message="Invalid Request: not a JSON-RPC 2.0 request, notification or response",
    )
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=error))


def _input_of(err: Exception) -> Any:
    """The JSON value of the refused line, when it was JSON at all."""
    errors = getattr(err, "errors", None)
    if not callable(errors):
        return None
    for detail in errors():
        value = detail.get("input")
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError:
                return None
        if value is not None:
            return value
    return None


@asynccontextmanager
async def _claimed_stdio() -> AsyncIterator[tuple[_StampedLines, Any]]:
    """The protocol's own copies of fd 0 and 1; meanwhile fd 0 reads nothing, fd 1 is stderr."""
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    stdin = io.TextIOWrapper(os.fdopen(protocol_in, "rb"), encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(os.fdopen(protocol_out, "wb"), encoding="utf-8", newline="\n")
    try:
        yield _StampedLines(stdin), anyio.wrap_file(stdout)
    finally:
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
        with suppress(OSError):  # the client closed its end first
            stdout.close()


async def serve_stdio(server: Any) -> None:
    """Serve one client over stdio until it disconnects (what `MCPServer.run("stdio")` does)."""
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async drives, too
    async with (
        _claimed_stdio() as (stdin, stdout),
        stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream),  # type: ignore[arg-type]
    ):
        await lowlevel.run(
            _AnsweringBadLines(read_stream, write_stream),
            write_stream,
            lowlevel.create_initialization_options(),
        )


# -- Streamable HTTP ------------------------------------------------------------------------

#: The environment variable that gives the HTTP transport its bearer token.
TOKEN_VARIABLE = "OSIRIS_MCP_TOKEN"


class BearerToken:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            import hmac

            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                body = json.dumps(
                    {"error": "unauthorized", "hint": "send Authorization: Bearer <token>"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="osiris"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_token(environ: Any = None) -> tuple[str, bool]:
    """The bearer token: `$OSIRIS_MCP_TOKEN`, else a new random one (and whether it is new)."""
    import secrets

    env = os.environ if environ is None else environ
    given = env.get(TOKEN_VARIABLE)
    if given:
        return str(given), False
    return secrets.token_urlsafe(32), True


def serve_http(server: Any, host: str, port: int, token: str) -> None:
    """Serve clients over Streamable HTTP at http://host:port/mcp until interrupted."""
    import uvicorn

    app = BearerToken(server.streamable_http_app(host=host), token)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    uvicorn.Server(config).run()
