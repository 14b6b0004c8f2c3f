"""The compiled plan as a type: `Manifest`, its `ManifestStep`s and `Fingerprints`.

`emit` builds a `Manifest` and writes it with `to_bytes`; every reader of a plan gets one
back with `from_bytes` (the runtime through `runtime.builds.Build`, which verifies the
files first). The YAML layout is the manifest's contract (DESIGN.md §6): `to_dict` lays
keys out in the fixed order the canonical writer keeps, so the bytes — and the hash —
are the same as they have always been.

>>> step = ManifestStep("orders", "mysql.extractor", "0.2.0", "read", "cfg/orders.json",
...                     "sha256:00", needs=(), inputs={}, tables={})
>>> manifest = Manifest("demo", "0.1.0", Fingerprints("a", "b", "c", "d"), {}, (step,),
...                     ("orders",)).sealed()
>>> Manifest.from_bytes(manifest.to_bytes()) == manifest
True
>>> manifest.hash == manifest.fingerprints.manifest_fp.removeprefix("sha256:")
True
>>> [s.id for s in manifest.in_order()]
['orders']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from compiler import canonical

MANIFEST = "manifest.yaml"
META = "meta.json"
LINEAGE = "lineage.json"


@dataclass(frozen=True)
class Fingerprints:
    """What a plan was compiled from: the OML, the specs, the compiler, the params."""

    oml_fp: str
    registry_fp: str
    compiler_fp: str
    params_fp: str
    profile: str = ""
    manifest_fp: str = ""  # sha256 of the manifest written with this field empty

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ManifestStep:
    """One step of the plan: its component, its bound config's file and hash, its wiring."""

    id: str
    component: str
    component_version: str
    mode: str
    cfg_path: str
    cfg_sha256: str
    needs: tuple[str, ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: every name the step's driver sees -> the upstream step whose table it is (None in a
    #: manifest compiled before it was recorded: then its `inputs`)
    tables: Mapping[str, str] | None = None
    when: str | None = None
    retry: Mapping[str, Any] | None = None
    timeout_s: float | None = None
    #: the resolved non-secret connection fields and their origins (when known at compile)
    connection: Mapping[str, Any] | None = None
    #: a transform's query as Spark SQL (`osiris compile --engine spark`); written only
    #: when set, so a plan compiled for DuckDB alone keeps its bytes
    spark_sql: str | None = None

    @property
    def input_tables(self) -> dict[str, str]:
        """Every name the driver may read -> the upstream step whose table it is."""
        return dict(self.tables if self.tables is not None else self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """The step as the manifest writes it: the fields in their declared order."""
        data = dataclasses.asdict(self)
        data["needs"] = list(self.needs)
        data["tables"] = dict(self.tables or {})
        if self.connection is None:
            del data["connection"]
        if self.spark_sql is None:
            del data["spark_sql"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManifestStep:
        return cls(
            id=str(data["id"]),
            component=str(data["component"]),
            component_version=str(data.get("component_version", "")),
            mode=str(data.get("mode", "transform")),
            cfg_path=str(data["cfg_path"]),
            cfg_sha256=str(data.get("cfg_sha256", "")),
            needs=tuple(data.get("needs") or ()),
            inputs=dict(data.get("inputs") or {}),
            tables=dict(data["tables"]) if data.get("tables") is not None else None,
            when=data.get("when"),
            retry=dict(data["retry"]) if data.get("retry") else None,
            timeout_s=data.get("timeout_s"),
            connection=data.get("connection"),
            spark_sql=data.get("spark_sql"),
        )


@dataclass(frozen=True)
class Manifest:
    """A whole plan: the pipeline, its params, its steps and the order they run in."""

    name: str
    oml_version: str
    fingerprints: Fingerprints
    params: Mapping[str, Any]
    steps: tuple[ManifestStep, ...]
    order: tuple[str, ...]
    rewrites: tuple[Mapping[str, Any], ...] = ()
    #: the SQL functions the author vouched for, shown to a reviewer (only when set)
    trusted_functions: tuple[str, ...] = ()
    #: the engines the plan was compiled for, when more than DuckDB (`osiris compile
    #: --engine spark`): written only then, so a plan for DuckDB alone keeps its bytes
    engines: tuple[str, ...] = ()

    def runs_on(self, engine: str) -> bool:
        """Whether the plan was compiled for `engine` (every plan runs on DuckDB)."""
        return engine == "duckdb" or engine in self.engines

    @property
    def hash(self) -> str:
        """The manifest_hash: the sha256 hex of the sealed manifest's bytes."""
        return self.fingerprints.manifest_fp.removeprefix("sha256:")

    @property
    def short(self) -> str:
        return self.hash[:12]

    def step(self, step_id: str) -> ManifestStep | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def in_order(self) -> list[ManifestStep]:
        """The steps in the order the plan runs them."""
        by_id = {s.id: s for s in self.steps}
        return [by_id[step_id] for step_id in self.order]

    def keeping(self, keep: Iterable[str]) -> Manifest:
        """The same plan with only the steps named in `keep` (a preview runs a part)."""
        kept = set(keep)
        return dataclasses.replace(
            self,
            steps=tuple(s for s in self.steps if s.id in kept),
            order=tuple(s for s in self.order if s in kept),
        )

    def to_dict(self) -> dict[str, Any]:
        pipeline: dict[str, Any] = {
            "name": self.name,
            "oml_version": self.oml_version,
            "fingerprints": self.fingerprints.to_dict(),
        }
        if self.trusted_functions:
            pipeline["trusted_functions"] = list(self.trusted_functions)
        if self.engines:
            pipeline["engines"] = list(self.engines)
        return {
            "pipeline": pipeline,
            "params": dict(sorted(self.params.items())),
            "steps": [s.to_dict() for s in self.steps],
            "order": list(self.order),
            "rewrites": [dict(r) for r in self.rewrites],
        }

    def to_bytes(self) -> bytes:
        return canonical.yaml_file(self.to_dict())

    def sealed(self) -> Manifest:
        """This manifest with its `manifest_fp` computed over its bytes (that field empty)."""
        unsealed = dataclasses.replace(
            self, fingerprints=dataclasses.replace(self.fingerprints, manifest_fp="")
        )
        digest = canonical.sha256(unsealed.to_bytes())
        return dataclasses.replace(
            self, fingerprints=dataclasses.replace(self.fingerprints, manifest_fp=digest)
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        pipeline = data["pipeline"]
        prints = pipeline["fingerprints"]
        return cls(
            name=str(pipeline["name"]),
            oml_version=str(pipeline.get("oml_version", "")),
            fingerprints=Fingerprints(
                oml_fp=str(prints.get("oml_fp", "")),
                registry_fp=str(prints.get("registry_fp", "")),
                compiler_fp=str(prints.get("compiler_fp", "")),
                params_fp=str(prints.get("params_fp", "")),
                profile=str(prints.get("profile") or ""),
                manifest_fp=str(prints.get("manifest_fp", "")),
            ),
            params=dict(data.get("params") or {}),
            steps=tuple(ManifestStep.from_dict(s) for s in data.get("steps") or ()),
            order=tuple(data.get("order") or ()),
            rewrites=tuple(data.get("rewrites") or ()),
            trusted_functions=tuple(pipeline.get("trusted_functions") or ()),
            engines=tuple(pipeline.get("engines") or ()),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        return cls.from_dict(parse(data))


def parse(data: bytes) -> Any:
    """The manifest's YAML as plain data (libyaml's parser when present: the same
    document, several times faster on big plans). Not the strict loader
    (`components.common.strict_yaml`) on purpose: a manifest is only trusted once its
    bytes match its hash, and an edit such as a repeated key breaks the hash."""
    import yaml

    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def verify(files: Mapping[str, bytes]) -> list[str]:
    """Problems with a build's files: a manifest whose fingerprints do not match its
    bytes, a config file missing or changed. Checked on the bytes as written, so an edit
    that a round trip through the type would hide is still found."""
    if MANIFEST not in files:
        return [f"{MANIFEST} is missing"]
    try:
        manifest = parse(files[MANIFEST])
        recorded = manifest["pipeline"]["fingerprints"]["manifest_fp"]
        manifest["pipeline"]["fingerprints"]["manifest_fp"] = ""
    except (KeyError, TypeError, ValueError):
        return [f"{MANIFEST} has no pipeline.fingerprints.manifest_fp"]
    except Exception as err:  # yaml.YAMLError: not YAML at all
        return [f"{MANIFEST} is not a manifest ({type(err).__name__})"]
    problems: list[str] = []
    if canonical.sha256(canonical.yaml_file(manifest)) != recorded:
        problems.append(f"{MANIFEST} was changed after compilation (manifest_fp does not match)")
    for step in manifest.get("steps", []):
        data = files.get(step.get("cfg_path", ""))
        if data is None:
            problems.append(f"{step.get('cfg_path')} is missing")
        elif canonical.sha256(data) != step.get("cfg_sha256"):
            problems.append(f"{step['cfg_path']} was changed after compilation")
    return problems
