"""emit — the manifest, one bound config per step, meta and lineage, as canonical bytes.

The files are returned, not written: the caller decides where they go. Nothing here
depends on the clock, the host, the working directory or the hash seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from compiler import canonical
from compiler.compile import check, default_context
from compiler.connections import recorded_connection
from compiler.diagnostics import Diagnostic, has_errors
from compiler.fingerprints import compiler_fingerprint, grammar_hash, oml_fingerprint
from compiler.program import CompileContext, Program
from grammar import StepRef

if TYPE_CHECKING:
    from components.registry import ComponentSpec

MANIFEST = "manifest.yaml"
META = "meta.json"
LINEAGE = "lineage.json"


@dataclass
class CompileResult:
    program: Program
    files: dict[str, bytes] = field(default_factory=dict)
    manifest_hash: str = ""
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.files)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.program.diagnostics

    @property
    def manifest_short(self) -> str:
        return self.manifest_hash[:12]

    @property
    def pipeline_name(self) -> str:
        return self.program.pipeline.name if self.program.pipeline else ""


def compile_source(
    source: str | bytes, context: CompileContext | None = None, filename: str = "<oml>"
) -> CompileResult:
    """Check `source`; when it has no errors, emit its build files."""
    context = context or default_context()
    program = check(source, context, filename)
    result = CompileResult(program)
    if has_errors(program.diagnostics) or program.pipeline is None:
        return result
    emit(result, context)
    return result


def emit(result: CompileResult, context: CompileContext) -> None:
    program = result.program
    pipeline = program.pipeline
    registry = context.registry
    assert pipeline is not None and registry is not None
    files: dict[str, bytes] = {}
    steps: list[dict[str, Any]] = []
    used_specs: dict[str, str] = {}
    for step_id in program.order:
        step = pipeline.step(step_id)
        assert step is not None
        spec = registry.get(step.component)
        assert spec is not None
        used_specs[spec.name] = spec.fingerprint
        cfg_path = f"cfg/{step.id}.json"
        cfg_bytes = canonical.json_file(program.configs[step.id])
        files[cfg_path] = cfg_bytes
        steps.append(
            {
                "id": step.id,
                "component": step.component,
                "component_version": spec.version,
                "mode": step.canonical_mode,
                "cfg_path": cfg_path,
                "cfg_sha256": canonical.sha256(cfg_bytes),
                "needs": sorted(program.dependencies.get(step.id, ())),
                "inputs": _inputs(program, step.id),
                # every name the step's driver sees -> the upstream step whose table it is
                "tables": program.tables.get(step.id, {}),
                "when": step.when,
                "retry": step.retry.manifest_form() if step.retry else None,
                "timeout_s": step.timeout_s,
                **_connection(program, step.id, spec, context),
            }
        )
    fingerprints = {
        "oml_fp": oml_fingerprint(program, context),
        "registry_fp": canonical.fingerprint(dict(sorted(used_specs.items()))),
        "compiler_fp": compiler_fingerprint(),
        "params_fp": canonical.fingerprint(program.params),
        "profile": context.profile or "",
        "manifest_fp": "",
    }
    manifest: dict[str, Any] = {
        "pipeline": {
            "name": pipeline.name,
            "oml_version": pipeline.oml_version,
            "fingerprints": fingerprints,
            # the functions the author vouched for, for a reviewer to see (only when set)
            **(
                {"trusted_functions": sorted(set(pipeline.trusted_functions))}
                if pipeline.trusted_functions
                else {}
            ),
        },
        "params": dict(sorted(program.params.items())),
        "steps": steps,
        "order": list(program.order),
        "rewrites": program.rewrites,
    }
    fingerprints["manifest_fp"] = canonical.sha256(canonical.yaml_file(manifest))
    files[MANIFEST] = canonical.yaml_file(manifest)
    files[META] = canonical.json_file(
        {
            "fingerprints": fingerprints,
            "manifest_hash": fingerprints["manifest_fp"].removeprefix("sha256:"),
            "toolchain": dict(_toolchain()),
            "params": dict(sorted(program.params.items())),
            "param_sources": dict(sorted(program.param_sources.items())),
            "profile": context.profile,
            "optimize": context.optimize,
        }
    )
    files[LINEAGE] = canonical.json_file(_lineage(program))
    result.files = dict(sorted(files.items()))
    result.fingerprints = fingerprints
    result.manifest_hash = fingerprints["manifest_fp"].removeprefix("sha256:")


def _connection(
    program: Program, step_id: str, spec: ComponentSpec, context: CompileContext
) -> dict[str, Any]:
    """`{"connection": ...}`: the step's resolved non-secret connection fields and their
    origins, when the caller handed in the project's connection facts; else nothing."""
    if context.connection_facts is None or spec.family is None:
        return {}
    config = program.configs[step_id]
    ref = config.get("connection")
    if spec.family == "duckdb" and ref is None:
        return {}  # the run's own data plane: no connection
    secret = {pointer.lstrip("/") for pointer in spec.secrets}
    inline = {
        f.field: config[f.field]
        for f in spec.connection_fields
        if f.field in config and f.field not in secret
    }
    entry = recorded_connection(
        ref if isinstance(ref, str) else None, spec.family, inline, context.connection_facts
    )
    return {} if entry is None else {"connection": entry}


def _inputs(program: Program, step_id: str) -> dict[str, str]:
    """Input name -> upstream step id."""
    pipeline = program.pipeline
    assert pipeline is not None
    prefix = program.step_path(step_id) + "/inputs/"
    found: dict[str, str] = {}
    for path, template in program.step_templates(step_id):
        if path.startswith(prefix):
            ref = template.references[0]
            assert isinstance(ref, StepRef)
            found[path[len(prefix) :].replace("~1", "/").replace("~0", "~")] = ref.step
    return dict(sorted(found.items()))


def _lineage(program: Program) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for step_id in program.order:
        columns = program.lineage.get(step_id)
        if not columns:
            continue
        types = program.column_types.get(step_id, {})
        out[step_id] = {
            column: {"sources": sorted(sources), "type": types.get(column)}
            for column, sources in columns.items()
        }
    return out


@cache
def _toolchain() -> dict[str, str]:
    """Versions recorded in meta.json: constant for the process, so looked up once."""
    from importlib.metadata import version

    import lark

    from compiler.version import __version__

    return {
        "osiris": __version__,
        "grammar": grammar_hash(),
        "sqlglot": version("sqlglot"),
        "lark": lark.__version__,
        "pydantic": version("pydantic"),
    }


def verify(files: Mapping[str, bytes]) -> list[str]:
    """Problems with a build's files: a manifest whose fingerprints do not match its bytes."""
    from components.common import strict_yaml

    problems: list[str] = []
    if MANIFEST not in files:
        return [f"{MANIFEST} is missing"]
    manifest = strict_yaml.load(files[MANIFEST])  # libyaml's parser when present: fast
    try:
        recorded = manifest["pipeline"]["fingerprints"]["manifest_fp"]
        manifest["pipeline"]["fingerprints"]["manifest_fp"] = ""
    except (KeyError, TypeError):
        return [f"{MANIFEST} has no pipeline.fingerprints.manifest_fp"]
    if canonical.sha256(canonical.yaml_file(manifest)) != recorded:
        problems.append(f"{MANIFEST} was changed after compilation (manifest_fp does not match)")
    for step in manifest.get("steps", []):
        data = files.get(step.get("cfg_path", ""))
        if data is None:
            problems.append(f"{step.get('cfg_path')} is missing")
        elif canonical.sha256(data) != step.get("cfg_sha256"):
            problems.append(f"{step['cfg_path']} was changed after compilation")
    return problems
