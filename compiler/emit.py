"""emit — the manifest, one bound config per step, meta and lineage, as canonical bytes.

The files are returned, not written: the caller decides where they go. Nothing here
depends on the clock, the host, the working directory or the hash seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from compiler import canonical
from compiler.compile import check
from compiler.connections import recorded_connection
from compiler.diagnostics import Diagnostic, has_errors
from compiler.fingerprints import oml_fingerprint
from compiler.manifest import LINEAGE, MANIFEST, META, Fingerprints, Manifest, ManifestStep
from compiler.program import CompileContext, Program, default_context
from compiler.toolchain import compiler_fingerprint, grammar_hash
from grammar import StepRef

if TYPE_CHECKING:
    from components.registry import ComponentSpec


@dataclass
class CompileResult:
    program: Program
    files: dict[str, bytes] = field(default_factory=dict)
    manifest_hash: str = ""
    fingerprints: dict[str, str] = field(default_factory=dict)
    manifest: Manifest | None = None

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
    steps: list[ManifestStep] = []
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
            ManifestStep(
                id=step.id,
                component=step.component,
                component_version=spec.version,
                mode=step.canonical_mode,
                cfg_path=cfg_path,
                cfg_sha256=canonical.sha256(cfg_bytes),
                needs=tuple(sorted(program.dependencies.get(step.id, ()))),
                inputs=_inputs(program, step.id),
                tables=program.tables.get(step.id, {}),
                when=step.when,
                retry=step.retry.manifest_form() if step.retry else None,
                timeout_s=step.timeout_s,
                connection=_connection(program, step.id, spec, context),
                spark_sql=program.spark_sql.get(step.id),
            )
        )
    manifest = Manifest(
        name=pipeline.name,
        oml_version=pipeline.oml_version,
        fingerprints=Fingerprints(
            oml_fp=oml_fingerprint(program, context),
            registry_fp=canonical.fingerprint(dict(sorted(used_specs.items()))),
            compiler_fp=compiler_fingerprint(),
            params_fp=canonical.fingerprint(program.params),
            profile=context.profile or "",
        ),
        params=program.params,
        steps=tuple(steps),
        order=tuple(program.order),
        rewrites=tuple(program.rewrites),
        trusted_functions=tuple(sorted(set(pipeline.trusted_functions))),
        engines=_engines(context),
    ).sealed()
    files[MANIFEST] = manifest.to_bytes()
    files[META] = canonical.json_file(
        {
            "fingerprints": manifest.fingerprints.to_dict(),
            "manifest_hash": manifest.hash,
            "toolchain": dict(_toolchain()),
            "params": dict(sorted(program.params.items())),
            "param_sources": dict(sorted(program.param_sources.items())),
            "profile": context.profile,
            "optimize": context.optimize,
            # only for a plan compiled for more than DuckDB, so the others keep their bytes
            **({"engines": list(_engines(context))} if _engines(context) else {}),
        }
    )
    files[LINEAGE] = canonical.json_file(_lineage(program))
    result.files = dict(sorted(files.items()))
    result.manifest = manifest
    result.fingerprints = manifest.fingerprints.to_dict()
    result.manifest_hash = manifest.hash


def _engines(context: CompileContext) -> tuple[str, ...]:
    """The engines the manifest names: none for a plan compiled for DuckDB alone."""
    return () if tuple(context.engines) == ("duckdb",) else tuple(context.engines)


def _connection(
    program: Program, step_id: str, spec: ComponentSpec, context: CompileContext
) -> dict[str, Any] | None:
    """The step's resolved non-secret connection fields and their origins, when the
    caller handed in the project's connection facts; else None."""
    if context.connection_facts is None or spec.family is None:
        return None
    config = program.configs[step_id]
    ref = config.get("connection")
    if spec.family == "duckdb" and ref is None:
        return None  # the run's own data plane: no connection
    secret = {pointer.lstrip("/") for pointer in spec.secrets}
    inline = {
        f.field: config[f.field]
        for f in spec.connection_fields
        if f.field in config and f.field not in secret
    }
    entry = recorded_connection(
        ref if isinstance(ref, str) else None, spec.family, inline, context.connection_facts
    )
    return entry


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
