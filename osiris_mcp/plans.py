"""Compiled plans: find a build by its manifest_hash, check it is still current, say what it writes.

The index of builds is the compile cache itself (`.osiris/cache/compile/*.json`, written
by `compile_to_disk` for `osiris compile` and `oml_compile` alike), so a plan compiled
from the command line can be run over MCP and the other way round. A plan is runnable
only when its files still match their fingerprints and the compiler and the component
specs it was compiled with are the ones installed now.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris_mcp.errors import OsirisToolError
from osiris_mcp.project import MANIFEST_HASH

#: Families whose writers modify database tables (a CSV writer only writes a file).
FILE_FAMILIES = frozenset({"filesystem"})


@dataclass(frozen=True)
class CompiledPlan:
    """A verified build folder and what its manifest says."""

    manifest_hash: str
    build_dir: Path
    manifest: dict[str, Any]
    configs: dict[str, dict[str, Any]]
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pipeline(self) -> str:
        return str(self.manifest["pipeline"]["name"])

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.manifest.get("params") or {})

    @property
    def writes_tables(self) -> bool:
        return any(t["kind"] == "database_table" for t in self.targets)


class BuildIndex:
    """manifest_hash → build folder, read from the compile cache (and remembered)."""

    def __init__(self, project_root: Path) -> None:
        self.cache_dir = project_root / ".osiris" / "cache" / "compile"
        self._known: dict[str, Path] = {}
        self._lock = threading.Lock()

    def remember(self, manifest_hash: str, build_dir: Path) -> None:
        with self._lock:
            self._known[manifest_hash] = build_dir

    def build_dir(self, manifest_hash: str) -> Path | None:
        """The build folder compiled for this hash, or None when no compile produced it."""
        if not MANIFEST_HASH.match(manifest_hash):
            return None
        with self._lock:
            known = self._known.get(manifest_hash)
        if known is not None and (known / "manifest.yaml").is_file():
            return known
        if not self.cache_dir.is_dir():
            return None
        for entry_path in sorted(self.cache_dir.glob("*.json")):
            try:
                entry = json.loads(entry_path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(entry, dict) and entry.get("manifest_hash") == manifest_hash:
                build = Path(str(entry.get("build_dir", "")))
                if (build / "manifest.yaml").is_file():
                    self.remember(manifest_hash, build)
                    return build
        return None

    def load(self, manifest_hash: str) -> CompiledPlan:
        """The verified plan, or an `unknown_manifest` / `stale_manifest` tool error."""
        build = self.build_dir(manifest_hash)
        if build is None:
            raise OsirisToolError(
                "unknown_manifest",
                f"No compiled plan has manifest_hash '{_short(manifest_hash)}'.",
                "Compile the pipeline with oml_compile and pass the manifest_hash it returns; "
                "only a compiled plan can run.",
            )
        return load_plan(build, manifest_hash)


def load_plan(build_dir: Path, manifest_hash: str) -> CompiledPlan:
    """Read and verify a build folder compiled as `manifest_hash`."""
    from compiler.emit import verify
    from components.common import strict_yaml
    from runtime.builds import read_build

    files = read_build(build_dir)
    problems = verify(files)
    stale_hint = "Compile the pipeline again with oml_compile and run the new manifest_hash."
    if problems:
        raise OsirisToolError(
            "stale_manifest",
            f"The plan '{_short(manifest_hash)}' was changed after it was compiled: {problems[0]}.",
            stale_hint,
        )
    manifest = strict_yaml.load(files["manifest.yaml"])
    recorded = str(manifest["pipeline"]["fingerprints"]["manifest_fp"]).removeprefix("sha256:")
    if recorded != manifest_hash:
        raise OsirisToolError(
            "stale_manifest",
            f"The build folder of '{_short(manifest_hash)}' now holds another plan.",
            stale_hint,
        )
    outdated = _outdated(manifest)
    if outdated:
        raise OsirisToolError(
            "stale_manifest",
            f"The plan '{_short(manifest_hash)}' was compiled with {outdated}.",
            stale_hint,
        )
    configs = {
        step["id"]: json.loads(files[step["cfg_path"]]) for step in manifest.get("steps", [])
    }
    return CompiledPlan(
        manifest_hash, build_dir, manifest, configs, write_targets(manifest, configs)
    )


def write_targets(
    manifest: dict[str, Any], configs: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every table or file the plan modifies, with its write mode, in run order."""
    from components.registry import default_registry

    registry = default_registry()
    steps = {step["id"]: step for step in manifest.get("steps", [])}
    targets: list[dict[str, Any]] = []
    for step_id in manifest.get("order", []):
        step = steps[step_id]
        if step.get("mode") != "write":
            continue
        config = configs.get(step_id, {})
        spec = registry.get(step["component"])
        family = spec.family if spec is not None else None
        if "table" in config and family not in FILE_FAMILIES:
            schema = config.get("schema")
            target = f"{schema}.{config['table']}" if schema else str(config["table"])
            kind = "database_table"
        else:
            target = str(config.get("path") or config.get("table") or "")
            kind = "file"
        targets.append(
            {
                "step": step_id,
                "component": step["component"],
                "kind": kind,
                "connection": config.get("connection") or (f"@{family}" if family else None),
                "target": target,
                "write_mode": config.get("write_mode"),
            }
        )
    return targets


def _outdated(manifest: dict[str, Any]) -> str | None:
    """What changed since the plan was compiled, or None when the toolchain is the same."""
    from compiler import canonical
    from compiler.fingerprints import compiler_fingerprint
    from components.registry import default_registry

    fingerprints = manifest["pipeline"]["fingerprints"]
    if fingerprints.get("compiler_fp") != compiler_fingerprint():
        return "another version of the compiler"
    registry = default_registry()
    used: dict[str, str] = {}
    for step in manifest.get("steps", []):
        spec = registry.get(step["component"])
        if spec is None:
            return f"component '{step['component']}', which is no longer installed"
        used[spec.name] = spec.fingerprint
    if canonical.fingerprint(dict(sorted(used.items()))) != fingerprints.get("registry_fp"):
        return "component specs that have changed since"
    return None


def _short(manifest_hash: str) -> str:
    return manifest_hash[:12] + ("…" if len(manifest_hash) > 12 else "")
