"""Resources: OML schema, component specs, discovery artifacts, compiled plans, runs, examples.

Every template parameter is checked before it reaches the disk (on top of the SDK's own
path-safety policy): ids must be plain identifiers, file paths plain relative segments
that stay inside their folder once symlinks are resolved. Text passes the secret masker;
anything bigger than the resource cap is cut at a line boundary, with a note saying so.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from osiris_mcp.paging import cut_text
from osiris_mcp.project import MANIFEST_HASH, UnsafePath, check_identifier, file_inside
from osiris_mcp.tool_adapter import ServerState


def _refuse(code: str, message: str, hint: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"[{code}] {message} Hint: {hint}")


def _identifier(value: str, what: str) -> str:
    try:
        return check_identifier(value, what)
    except UnsafePath as err:
        hint = f"Use a {what} exactly as a tool returned it."
        raise _refuse("invalid_name", f"{err}.", hint) from None


def _inside(base: Path, relative: str) -> Path:
    try:
        path = file_inside(base, relative)
    except UnsafePath as err:
        hint = "Name a file inside the folder, e.g. status.json."
        raise _refuse("invalid_name", f"{err}.", hint) from None
    if not path.is_file():
        raise _refuse("not_found", f"No file '{relative}'.", "Check the name in the listing.")
    return path


def _read(state: ServerState, path: Path) -> str | bytes:
    """The file's text (masked, capped at a line boundary) or, for binary files, its bytes."""
    limit = state.project.max_resource_bytes
    size = path.stat().st_size
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if size > limit:
            raise _refuse(
                "too_large",
                f"{path.name} is a binary file of {size:,} bytes (the cap is {limit:,}).",
                "Read its metadata from the run's status or events instead.",
            ) from None
        return data
    text, cut = cut_text(state.secrets.text(text), limit)
    if cut or size > limit:
        text += f"\n… truncated: the first {len(text.encode()):,} of {size:,} bytes are shown.\n"
    return text


def _masked(state: ServerState, read: Callable[..., Any]) -> Callable[..., Any]:
    """`read` with its refusals masked: a message may echo an argument (`No run '…'`),
    and an argument may be a secret the client was tricked into sending."""

    @functools.wraps(read)
    def masked(*args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)
        except ResourceNotFoundError as err:
            raise ResourceNotFoundError(state.secrets.text(str(err))) from None

    return masked


def register_resources(server: MCPServer, state: ServerState) -> None:
    """Add the static resource and the resource templates."""

    def template(uri: str, title: str, mime_type: str) -> Callable[[Callable[..., Any]], Any]:
        """Register `read` as the resource template `uri`: named after the function,
        described by its docstring (on one line), its refusals masked."""

        def register(read: Callable[..., Any]) -> Any:
            return server.resource(
                uri,
                name=read.__name__,
                title=title,
                description=" ".join((read.__doc__ or "").split()),
                mime_type=mime_type,
            )(_masked(state, read))

        return register

    @server.resource(
        "osiris://schema/oml",
        name="oml_schema",
        title="OML schema",
        description="JSON Schema of an OML v0.1.0 pipeline document.",
        mime_type="application/json",
    )
    def oml_schema() -> str:
        from compiler.model import oml_json_schema

        return json.dumps(oml_json_schema(), indent=2, sort_keys=True)

    @template("osiris://components/{name}", "Component spec", "application/json")
    def component_spec(name: str) -> str:
        """A component's full spec (config schema, connection fields, examples, hints)."""
        from components.registry import default_registry

        spec = default_registry().get(_identifier(name, "component name"))
        if spec is None:
            raise _refuse("not_found", f"No component '{name}'.", "components_list names them.")
        return json.dumps(dict(spec.raw), indent=2, sort_keys=True, ensure_ascii=False)

    @template(
        "osiris://discovery/{discovery_id}/{artifact}", "Discovery artifact", "application/json"
    )
    def discovery_artifact(discovery_id: str, artifact: str) -> str | bytes:
        """summary.json, catalog.json or table.<schema>.<name>.json of a discovery."""
        from runtime.catalog import CatalogStore

        _identifier(discovery_id, "discovery id")
        _identifier(artifact, "artifact name")
        with CatalogStore(state.project.root) as store:
            path = store.artifact_path(discovery_id, artifact)
            artifacts = store.artifacts_root
        if path is None:
            raise _refuse(
                "not_found",
                f"No artifact '{artifact}' for discovery '{discovery_id}'.",
                "discovery_request returns the discovery_id and the artifact URIs.",
            )
        return _read(state, _inside(artifacts / discovery_id, artifact))

    @template("osiris://manifests/{manifest_hash}/{+file}", "Compiled plan file", "text/plain")
    def compiled_plan_file(manifest_hash: str, file: str) -> str | bytes:
        """manifest.yaml, meta.json, lineage.json or cfg/<step>.json of a compiled plan."""
        if not MANIFEST_HASH.match(manifest_hash):
            raise _refuse(
                "invalid_name",
                f"'{manifest_hash[:80]}' is not a manifest_hash (64 hex characters).",
                "Use the manifest_hash oml_compile returned.",
            )
        build = state.builds.build_dir(manifest_hash)
        if build is None:
            raise _refuse(
                "not_found",
                f"No compiled plan has manifest_hash '{manifest_hash[:12]}…'.",
                "oml_compile returns the manifest_hash and the manifest URI.",
            )
        return _read(state, _inside(build, file))

    @template("osiris://runs/{run_id}/{+file}", "Run file", "text/plain")
    def run_file(run_id: str, file: str) -> str | bytes:
        """status.json, events.jsonl, metrics.jsonl, manifest.yaml, cfg/… or
        artifacts/<step>/… of a run."""
        from runtime.sessions import find_run

        session = find_run(state.project.root, _identifier(run_id, "run id"))
        if session is None:
            raise _refuse("not_found", f"No run '{run_id}'.", "runs_list shows the run ids.")
        if file.endswith(".duckdb") or file.endswith(".wal"):
            raise _refuse("not_found", "The data plane is not served.", "Read the artifacts.")
        return _read(state, _inside(session, file))

    @template("osiris://examples/{name}", "Example pipeline", "application/yaml")
    def example_pipeline(name: str) -> str:
        """The OML of a shipped example (usecases_list names them)."""
        from osiris_mcp.guide import EXAMPLES_DIR

        _identifier(name, "example name")
        return str(_read(state, _inside(EXAMPLES_DIR, f"{name}.yaml")))
