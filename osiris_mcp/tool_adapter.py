"""How a tool becomes an SDK tool: its contract, its parameters, its result, its errors.

A tool is an async function `(state, args, ctx) -> result` declared with `@tool`: its
argument and result models (tool_models.py) become the `inputSchema` and
`outputSchema`, its docstring the description. `register_tools` adapts each one to the
SDK: the argument model's fields become the function's keyword parameters, the result
goes out as `structuredContent` plus the same JSON as text (and resource links), every
text passes the secret masker, and anything unexpected becomes an `internal` tool error
whose details stay in the server log. The tools themselves live in tools.py,
run_tools.py and guide_tools.py.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ResourceLink, TextContent, ToolAnnotations
from pydantic import BaseModel

from osiris_mcp import tool_models as m
from osiris_mcp.audit import SecretText, connection_secrets
from osiris_mcp.errors import OsirisToolError
from osiris_mcp.paging import Page, fit_rows
from osiris_mcp.project import Project
from osiris_mcp.runs import RunTracker
from runtime.builds import BuildIndex

logger = logging.getLogger("osiris_mcp.tools")


def _hints(
    read_only: bool, destructive: bool, idempotent: bool, open_world: bool
) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


# Honest hints, named for what the tool does to the world. The flags, in order:
# read_only, destructive, idempotent, open_world.
READS_PROJECT = _hints(True, False, True, False)
READS_SOURCE = _hints(True, False, True, True)
WRITES_PROJECT = _hints(False, False, True, False)
OVERWRITES_PROJECT = _hints(False, True, True, False)
APPENDS_PROJECT = _hints(False, False, False, False)
RUNS_PLAN = _hints(False, True, False, True)
STOPS_RUN = _hints(False, False, True, False)


@dataclass
class ServerState:
    """What the tools share: the project, its compiled plans, its runs, its secrets."""

    project: Project
    secrets: SecretText
    builds: BuildIndex
    runs: RunTracker
    compile_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, project: Project) -> ServerState:
        secrets = SecretText(lambda: connection_secrets(project.root))
        return cls(
            project=project,
            secrets=secrets,
            builds=BuildIndex(project.root),
            runs=RunTracker(project.root, secrets.text),
        )


@dataclass(frozen=True)
class Reply:
    """A result and the resources it points at (sent as resource links beside the JSON)."""

    result: BaseModel
    links: list[tuple[str, str]] = field(default_factory=list)  # (uri, name)


ToolFn = Callable[..., Awaitable[BaseModel | Reply]]


#: Extra parameters a tool receives besides its arguments, e.g. a `Resolve(...)` confirmation.
Injected = Callable[["ServerState"], dict[str, Any]]


@dataclass(frozen=True)
class ToolDef:
    """One declared tool: its contract and its body."""

    name: str
    title: str
    annotations: ToolAnnotations
    fn: ToolFn
    args: type[m.Args]
    result: type[m.Result]
    inject: Injected | None = None


TOOLS: list[ToolDef] = []


def tool(
    title: str,
    hints: ToolAnnotations,
    result: type[m.Result] | None = None,
    inject: Injected | None = None,
) -> Callable[[ToolFn], ToolFn]:
    """Declare a tool: `async def name(state, args: <Args>, ctx) -> <Result>`.

    A tool that returns a `Reply` (a result with resource links) names its result model;
    `inject` adds keyword parameters the SDK fills (a resolver), passed to the body as is.
    """

    def declare(fn: ToolFn) -> ToolFn:
        hints_of = typing.get_type_hints(fn)
        returned = result or hints_of["return"]
        TOOLS.append(ToolDef(fn.__name__, title, hints, fn, hints_of["args"], returned, inject))
        return fn

    return declare


#: The modules that declare tools, in the order tools/list shows them.
TOOL_MODULES = (
    "osiris_mcp.tools",
    "osiris_mcp.run_tools",
    "osiris_mcp.data_tools",
    "osiris_mcp.guide_tools",
)


def build_tools(state: ServerState) -> list[Tool]:
    """Every tool as an SDK `Tool`, in the order the tool modules declare them.

    The argument model is the tool's own (`Args` subclasses the SDK's `ArgModelBase`), so
    the SDK checks arguments against exactly the published `inputSchema`. The JSON
    schemas are kept in `.osiris/mcp/schema-cache.json`, keyed by the contract's source
    and the libraries that render it: computing them is most of the start-up time the
    server adds to the SDK's own, and they only change with the code.
    """
    import importlib

    from mcp.server.mcpserver.resolve import build_resolver_plans, find_resolved_parameters
    from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata

    for module in TOOL_MODULES:
        importlib.import_module(module)  # each declares its tools on import
    # TOOLS holds them in import order, which is TOOL_MODULES' only when nothing imported a
    # tool module earlier (a doctest run imports every module, alphabetically)
    rank = {module: place for place, module in enumerate(TOOL_MODULES)}
    declared = sorted(TOOLS, key=lambda d: rank.get(d.fn.__module__, len(rank)))
    cache_path = state.project.state_dir / "schema-cache.json"
    key = _contract_key()
    cached = _read_schemas(cache_path, key)
    fresh: dict[str, dict[str, Any]] = {}
    tools = []
    for definition in declared:
        schemas = cached.get(definition.name)
        if schemas is None:
            metadata = FuncMetadata(arg_model=definition.args, output_model=definition.result)
            schemas = {
                "input": definition.args.model_json_schema(by_alias=True),
                "output": metadata.output_schema,
            }
        else:
            metadata = FuncMetadata(
                arg_model=definition.args,
                output_schema=schemas["output"],
                output_model=definition.result,
            )
        fresh[definition.name] = schemas
        fn = _adapt(definition, state)
        resolved = find_resolved_parameters(fn)
        tools.append(
            Tool(
                fn=fn,
                name=definition.name,
                title=definition.title,
                description=inspect.cleandoc(definition.fn.__doc__ or ""),
                parameters=schemas["input"],
                fn_metadata=metadata,
                is_async=True,
                context_kwarg="ctx",
                resolved_params=dict(resolved),
                resolver_plans=build_resolver_plans(resolved, set(definition.args.model_fields)),
                annotations=definition.annotations,
            )
        )
    if fresh != cached:
        _write_schemas(cache_path, key, fresh)
    return tools


def _contract_key() -> str:
    """What the schemas depend on: the models' source and the code that renders them."""
    import hashlib

    import pydantic
    from mcp.server.mcpserver.utilities import func_metadata

    digest = hashlib.sha256(Path(m.__file__).read_bytes())
    renderer = Path(func_metadata.__file__).stat()
    digest.update(f"{pydantic.VERSION}|{renderer.st_size}|{renderer.st_mtime_ns}".encode())
    return digest.hexdigest()


def _read_schemas(path: Path, key: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("key") != key:
        return {}
    tools = data.get("tools")
    return tools if isinstance(tools, dict) else {}


def _write_schemas(path: Path, key: str, tools: dict[str, dict[str, Any]]) -> None:
    """Write the cache atomically; a project that cannot be written just stays uncached."""
    from components.common.atomic import write_atomic

    try:
        write_atomic(path, json.dumps({"key": key, "tools": tools}).encode("utf-8"))
    except OSError as err:
        logger.debug("schema cache not written: %s", err)


def _adapt(definition: ToolDef, state: ServerState) -> Callable[..., Awaitable[CallToolResult]]:
    """The SDK-facing function: validated arguments in, a `CallToolResult` out.

    Its signature names only what the SDK injects (the context, and a resolver's
    parameter such as run_pipeline's confirmation); the arguments arrive as the
    argument model's fields.
    """
    model = definition.args
    injected = {"ctx": Context, **(definition.inject(state) if definition.inject else {})}
    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for name, annotation in injected.items()
    ]
    cap = state.project.max_result_bytes

    async def call(**kwargs: Any) -> CallToolResult:
        ctx = kwargs.pop("ctx")
        passed = {name: kwargs.pop(name) for name in injected if name != "ctx"}
        try:
            args = model.model_construct(**kwargs)  # the SDK validated them already
            reply = await definition.fn(state, args, ctx, **passed)
        except OsirisToolError as err:
            mask = state.secrets.text  # an echoed argument may be a secret value
            raise OsirisToolError(err.code, mask(err.message), mask(err.hint)) from None
        except ToolError as err:  # the SDK's own, which may quote an argument too
            raise ToolError(state.secrets.text(str(err))) from None
        except Exception as err:
            # Details go to the server log (redacted); the model gets a code and a hint.
            logger.exception("tool %s failed unexpectedly", definition.name)
            raise OsirisToolError(
                "internal",
                f"{definition.name} failed unexpectedly ({type(err).__name__}).",
                "This is a bug in Osiris; the server log (.osiris/mcp/server.log) has the "
                "details. Try another approach or report it.",
            ) from None
        if isinstance(reply, BaseModel):
            reply = Reply(reply)
        structured = reply.result.model_dump(mode="json", by_alias=True)
        text = _compact_json(structured)
        masked = state.secrets.text(text)  # the last line of defence: no secret leaves
        if masked != text:
            text, structured = masked, json.loads(masked)
        size = len(text.encode("utf-8"))
        if size > cap:  # listings page themselves below the cap; anything else is refused
            logger.warning("%s: result of %d bytes exceeds the cap", definition.name, size)
            raise OsirisToolError(
                "too_large",
                f"The result of {definition.name} is {size:,} bytes, over the result cap of "
                f"{cap:,} bytes.",
                "Ask for less (narrower arguments, a cursor) or read the resource the tool "
                "names; the user can raise the cap with osiris-mcp --max-result-bytes.",
            )
        content: list[Any] = [TextContent(type="text", text=text)]
        content += link_blocks(reply.links, ctx.protocol_version)
        return CallToolResult(content=content, structured_content=structured)

    call.__name__ = definition.name
    call.__doc__ = definition.fn.__doc__
    call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    call.__annotations__ = dict(injected)
    return call


#: The first protocol version that defines `resource_link` content blocks.
RESOURCE_LINKS_SINCE = "2025-06-18"


def link_blocks(links: list[tuple[str, str]], protocol_version: str | None) -> list[Any]:
    """The blocks pointing at a result's resources, in what the client's protocol defines:
    `resource_link` from 2025-06-18 on, a text block naming the URI before (a 2025-03-26
    client refuses the whole result when one block has a type it does not know).

    >>> links = [("osiris://runs/r/status.json", "status.json")]
    >>> [[b.type for b in link_blocks(links, v)] for v in ("2025-03-26", "2025-06-18")]
    [['text'], ['resource_link']]
    """
    if protocol_version is None or protocol_version >= RESOURCE_LINKS_SINCE:  # ISO dates
        return [ResourceLink(type="resource_link", uri=uri, name=name) for uri, name in links]
    return [TextContent(type="text", text=f"resource {name}: {uri}") for uri, name in links]


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def page_of(state: ServerState, rows: list[Any], listing: str, cursor: str | None) -> Page:
    """The rows from `cursor` on that fit the project's result cap."""
    return fit_rows(rows, budget=state.project.max_result_bytes, listing=listing, cursor=cursor)


def paged_fields(page: Page, tool_name: str) -> dict[str, Any]:
    """The `Paged` fields of a result for this page."""
    return {
        "total": page.total,
        "returned": len(page.rows),
        "truncated": page.truncated,
        "next_cursor": page.next_cursor,
        "page_hint": page.hint(tool_name),
    }
