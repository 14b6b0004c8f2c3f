"""The audit log and the server log: what was called, how long it took, how it ended — no secrets.

`.osiris/mcp/audit.jsonl` gets one line per tool call, resource read and prompt: the
name, how long it waited before its handler ran (`queue_ms`) and how long the handler
took (`duration_ms`), bytes in and out, the outcome and the error code. Arguments are
summarized, never stored raw: an OML body by its sha256 and size, free text by its size,
params by their names; identifiers (a run id, a connection reference) are kept when
they look like identifiers and carry no known secret. The server log
(`.osiris/mcp/server.log` and stderr) passes the same redactor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from osiris_mcp.errors import error_code_of
from osiris_mcp.paging import json_size

#: A value kept as is in the audit line: identifiers, references, patterns, hashes.
_SAFE_VALUE = re.compile(r"^[@A-Za-z0-9_.:/*=+-]{1,128}$")
#: Arguments holding documents or free text: never kept, only measured.
_OML_ARGS = frozenset({"oml"})
_TEXT_ARGS = frozenset({"text", "intent", "goal"})
_AUDITED = {"tools/call": "tool", "resources/read": "resource", "prompts/get": "prompt"}


class SecretText:
    """Masks the project's known secret values (resolved connection fields) in text.

    The values are read lazily through `load` and read again when it says they changed,
    so a server started before the connections file was edited still masks the new ones.
    """

    def __init__(self, load: Callable[[], set[str]]) -> None:
        self._load = load
        self._redactor: Any = None
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the secret values again (a broken connections file masks what it can)."""
        try:
            values = set(self._load())
        except Exception:  # never let the masker itself fail a call
            values = set()
        self.add(values)

    def add(self, values: set[str] | frozenset[str]) -> None:
        """Mask these values too, from now on."""
        from runtime.redaction import Redactor

        with self._lock:
            fresh = set(values) - self._values
            if self._redactor is None or fresh:
                self._values |= fresh
                self._redactor = Redactor(self._values)

    def text(self, value: str) -> str:
        if self._redactor is None:
            self.refresh()
        return str(self._redactor.text(value))

    def text_now(self, value: str) -> str:
        """Mask with what is known so far, without reading the connections file.

        For log lines: the server logs before any tool has read the connections (and the
        warm-up reads them right after start-up); every tool that resolves a connection
        adds its secrets before anything about it is logged.
        """
        redactor = self._redactor
        if redactor is None:
            from runtime.redaction import Redactor

            redactor = Redactor()  # passwords in URLs and DSNs, still
        return str(redactor.text(value))

    def data(self, value: Any) -> Any:
        if self._redactor is None:
            self.refresh()
        return self._redactor.data(value)


def connection_secrets(project_root: Path) -> set[str]:
    """Every secret value the project's connections resolve to (for masking, never shown)."""
    from runtime.connections import ConnectionError, ConnectionsFile

    try:
        return set(ConnectionsFile.load(project_root).secret_values())
    except ConnectionError:
        return set()


def summarize_arguments(arguments: Mapping[str, Any], secrets: SecretText) -> dict[str, Any]:
    """What the audit line says about a call's arguments.

    >>> summary = summarize_arguments(
    ...     {"oml": "name: x", "run_id": "run_1", "params": {"day": "1"}, "text": "hi"},
    ...     SecretText(set),
    ... )
    >>> summary["oml"]["bytes"], summary["run_id"], summary["params"], summary["text"]
    (7, 'run_1', {'names': ['day']}, {'bytes': 2})
    """
    return {str(key): _summary(str(key), value, secrets) for key, value in arguments.items()}


def _summary(key: str, value: Any, secrets: SecretText) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if key in _OML_ARGS:
            digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
            return {"sha256": digest, "bytes": len(value.encode("utf-8", "replace"))}
        if key in _TEXT_ARGS or not _SAFE_VALUE.match(value):
            return {"bytes": len(value.encode("utf-8", "replace"))}
        masked = secrets.text(value)
        return masked if masked == value else "***"
    if isinstance(value, Mapping):
        names = [str(k) for k in value if _SAFE_VALUE.match(str(k))]
        return {"names": sorted(names)[:50]}
    if isinstance(value, list | tuple):
        return [_summary(key, item, secrets) for item in list(value)[:20]]
    return {"type": type(value).__name__}


class AuditLog:
    """Appends one JSON line per audited call (thread-safe, file mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)


class AuditMiddleware:
    """Server middleware: times each tool call, resource read and prompt, and logs it.

    It also gives every error result a code: an argument the SDK rejected becomes
    `[invalid_arguments]` with a hint, so no error reaches the model without one.
    """

    def __init__(self, log: AuditLog, secrets: SecretText) -> None:
        self.log = log
        self.secrets = secrets

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        kind = _AUDITED.get(ctx.method)
        if kind is None or ctx.request_id is None:
            return await call_next(ctx)
        params: Mapping[str, Any] = ctx.params or {}
        started = time.perf_counter()
        from osiris_mcp.transport import RECEIVED_AT

        received = RECEIVED_AT.get()
        # how long the call waited between arriving and its handler starting (None when
        # the transport does not say when it arrived: the in-memory one of the tests)
        queue_ms = None if received is None else round(max(0.0, started - received) * 1000, 3)
        record: dict[str, Any] = {"kind": kind, "queue_ms": queue_ms}
        if kind == "resource":
            uri = str(params.get("uri", ""))
            record["name"] = uri.split("://", 1)[-1].split("/", 1)[0] or "?"
            record["uri"] = self._safe_uri(uri)
            record["bytes_in"] = len(uri.encode())
        else:
            record["name"] = str(params.get("name", "?"))
            arguments = params.get("arguments") or {}
            record["bytes_in"] = json_size(arguments)
            if isinstance(arguments, Mapping):
                record["args"] = summarize_arguments(arguments, self.secrets)
        try:
            result = await call_next(ctx)
        except Exception as err:
            record.update(outcome="error", error_code=_code_of_exception(err), bytes_out=0)
            self._finish(record, started)
            raise
        outcome, code = "ok", None
        if isinstance(result, dict) and result.get("isError"):
            outcome = "error"
            code = _label_error(result)
        record.update(outcome=outcome, error_code=code, bytes_out=json_size(result))
        self._finish(record, started)
        return result

    def _finish(self, record: dict[str, Any], started: float) -> None:
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        record["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
        try:
            self.log.write(self.secrets.data(record))
        except OSError as err:  # a full disk must not break the tool call
            logging.getLogger("osiris_mcp.audit").warning("audit log not written: %s", err)

    def _safe_uri(self, uri: str) -> Any:
        if len(uri) <= 300 and re.match(r"^osiris://[A-Za-z0-9_./@=+-]*$", uri):
            masked = self.secrets.text(uri)
            return masked if masked == uri else "***"
        return {"bytes": len(uri.encode())}


def _label_error(result: dict[str, Any]) -> str:
    """The code of an error result; one without a code gets `invalid_arguments` or `internal`."""
    content = result.get("content") or []
    text = next((c.get("text", "") for c in content if isinstance(c, dict)), "")
    code = error_code_of(text)
    if code is not None:
        return code
    if "validation error" in text:
        code = "invalid_arguments"
        hint = "Check the arguments against the tool's inputSchema (tools/list) and call again."
    elif text.startswith("Unknown tool"):
        code = "unknown_tool"
        hint = "tools/list shows the tools this server has."
    else:
        code = "internal"
        hint = "This is a bug in Osiris; the server log has the details."
    prefix, _, rest = text.partition(": ")
    new_text = (
        f"{prefix}: [{code}] {rest} Hint: {hint}" if rest else f"[{code}] {text} Hint: {hint}"
    )
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            block["text"] = new_text
            break
    return code


def _code_of_exception(err: Exception) -> str:
    message = getattr(getattr(err, "error", None), "message", None) or str(err)
    return error_code_of(str(message)) or type(err).__name__


# -- the server log -------------------------------------------------------------------------


class _RedactingFilter(logging.Filter):
    """Masks known secrets in every record, tracebacks included, before any handler sees it."""

    def __init__(self, secrets: SecretText) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.secrets.text_now(message)
        record.args = None
        return True


def configure_logging(state_dir: Path, secrets: SecretText, level: int = logging.INFO) -> None:
    """Logs to stderr and `.osiris/mcp/server.log`, never stdout (stdout is the protocol)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(state_dir / "server.log", encoding="utf-8"))
    except OSError:
        pass  # a read-only project still gets the stderr log
    redacting = _RedactingFilter(secrets)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redacting)
        root.addHandler(handler)
    root.setLevel(level)
