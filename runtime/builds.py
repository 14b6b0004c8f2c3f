"""Build folders on disk: the one way to read a plan (`Build`), atomic writes, the cache.

The compiler returns bytes; this module decides where they live. A build folder is
written to a temporary sibling and renamed into place, so a reader never sees half a
build. `Build.load` is how every caller — `osiris run`, the MCP tools, the worker, the
E2B bundle — reads one: it verifies the files against their fingerprints and gives a
typed `Manifest`; `Build.stale` says whether the compiler and the component specs it
was compiled with are still the installed ones. The compile cache maps the compile
inputs to the build that came of them, and `BuildIndex` finds a build by its hash.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from compiler import canonical
from compiler.manifest import MANIFEST, Manifest, ManifestStep, verify
from compiler.model import pipeline_slug
from components.common.atomic import write_atomic
from components.common.errors import HintedError


def default_build_dir(project: Path, pipeline: str, manifest_short: str) -> Path:
    return project / "build" / pipeline_slug(pipeline) / manifest_short


#: What a build folder holds: these files and cfg/<step>.json.
BUILD_FILES = frozenset({"manifest.yaml", "meta.json", "lineage.json"})


class BuildDirError(ValueError):
    """A folder a build may not be written into: it holds something else."""


def is_build_dir(path: Path) -> bool:
    """True for a folder holding a build and nothing else (what `write_build` may replace).

    Judged by content, not names: a Kubernetes `manifest.yaml` is not a build. The files
    must verify as Osiris wrote them (fingerprints and cfg hashes), and meta.json must
    name the manifest's own hash.
    """
    entries = list(path.iterdir())
    if not {"manifest.yaml", "meta.json"} <= {entry.name for entry in entries}:
        return False
    for entry in entries:
        if entry.is_symlink():
            return False
        if entry.name in BUILD_FILES and entry.is_file():
            continue
        if (
            entry.name == "cfg"
            and entry.is_dir()
            and all(
                c.suffix == ".json" and c.is_file() and not c.is_symlink() for c in entry.iterdir()
            )
        ):
            continue
        return False
    return _verifies(path)


def _verifies(path: Path) -> bool:
    try:
        build = Build.load(path)
    except PlanError:
        return False  # not a build Osiris can read: not one it may replace
    return build.meta.get("manifest_hash") == build.manifest_hash


def check_build_dir(out_dir: Path) -> None:
    """Refuse a folder `write_build` would have to destroy: one that is not new, empty or a build.

    Writing a build replaces the folder whole, so `--out .` in a project or `--out ~`
    would delete everything in it. A new folder, an empty one, or an earlier build (its
    files and nothing else) is fine.
    """
    target = out_dir.resolve()
    if not target.exists():
        return
    if not target.is_dir():
        raise BuildDirError(f"{out_dir} is a file, not a folder: nothing was written")
    if any(target.iterdir()) and not is_build_dir(target):
        raise BuildDirError(
            f"{out_dir} is not empty and is not an Osiris build, so it would be replaced "
            "whole: nothing was written (choose a new or empty folder, or an earlier build)"
        )


def write_build(files: Mapping[str, bytes], out_dir: Path) -> Path:
    """Write a build's files into `out_dir`, replacing what was there, atomically.

    `out_dir` must be new, empty, or an earlier build (`check_build_dir`). Processes
    writing one folder at once (two runs of a pipeline, both compiling it first) take
    turns, and a folder already holding exactly these files is left as it is, so a run
    reading its plan from it never finds it gone or half swapped.
    """
    resolved = out_dir.resolve()
    resolved.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(resolved.parent):
        check_build_dir(out_dir)
        if resolved.is_dir() and read_build(resolved) == dict(files):
            return resolved
        return _replace_build(files, resolved)


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` across processes (flock on the folder itself,
    so no lock file is left anywhere); without flock, go on unlocked."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without flock: go on unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock


def _replace_build(files: Mapping[str, bytes], out_dir: Path) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(staging, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def read_build(build_dir: Path) -> dict[str, bytes]:
    """Every file of a build folder, by its relative path."""
    files: dict[str, bytes] = {}
    for path in sorted(build_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            files[path.relative_to(build_dir).as_posix()] = path.read_bytes()
    return files


def cache_key(source: bytes, inputs: Mapping[str, Any]) -> str:
    """The compile cache key: the source bytes and every other compile input."""
    return canonical.fingerprint({"source": canonical.sha256(source), **inputs}).removeprefix(
        "sha256:"
    )


class CompileCache:
    """`.osiris/cache/compile/<key>.json` → the build folder that compile produced."""

    def __init__(self, project: Path) -> None:
        self.root = project / ".osiris" / "cache" / "compile"

    def lookup(self, key: str) -> dict[str, Any] | None:
        path = self.root / f"{key}.json"
        try:
            entry: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        build = Path(entry.get("build_dir", ""))
        if not (build / "manifest.yaml").is_file():
            return None
        if verify(read_build(build)):
            return None  # edited or damaged since: do not trust it
        return entry

    def store(self, key: str, entry: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.root / f"{key}.json", canonical.json_file(dict(entry)))


def record_last_build(project: Path, build_dir: Path) -> None:
    """Remember the build `osiris compile` produced last, for `osiris run --last-compile`."""
    write_atomic(_last_build_pointer(project), str(Path(build_dir).absolute()).encode("utf-8"))


def last_build(project: Path) -> Path | None:
    """The build folder `osiris compile` produced last, if it is still there."""
    try:
        target = Path(_last_build_pointer(project).read_text("utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return None
    return target if (target / "manifest.yaml").is_file() else None


def _last_build_pointer(project: Path) -> Path:
    return project / ".osiris" / "last_compile"


class PlanError(HintedError):
    """A build that cannot be run as it is: missing, edited after compile, compiled by
    another toolchain, or asking for a connection that does not resolve.

    `code` says which for a shell to word it: `missing`, `changed`, `other_plan`, `stale`,
    or `plan` for everything else.
    """

    def __init__(
        self, message: str, hint: str | None = None, code: str = "plan", detail: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.code = code
        #: the first problem found, in a few words (for a shell that words its own message)
        self.detail = detail or message


#: Families whose writers modify database tables (a CSV writer only writes a file).
FILE_FAMILIES = frozenset({"filesystem"})
_RECOMPILE = "the plan was changed after compilation: compile the OML again"


@dataclass(frozen=True)
class Build:
    """A build folder, loaded and verified: its manifest, each step's config, meta.json."""

    build_dir: Path
    manifest: Manifest
    configs: Mapping[str, dict[str, Any]]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, build_dir: Path, manifest_hash: str | None = None) -> Build:
        """Read `build_dir` and refuse it unless its files match their fingerprints (and,
        when given, the folder holds the plan `manifest_hash`)."""
        if not (build_dir / MANIFEST).is_file():
            raise PlanError(
                f"{build_dir}: no manifest.yaml", hint="compile the pipeline first", code="missing"
            )
        try:
            files = read_build(build_dir)
        except OSError as err:
            raise PlanError(f"{build_dir}: {err.strerror or err}", code="missing") from None
        problems = verify(files)
        if problems:
            raise PlanError(
                f"{build_dir}: " + "; ".join(problems), _RECOMPILE, "changed", problems[0]
            )
        try:
            manifest = Manifest.from_bytes(files[MANIFEST])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PlanError(
                f"{build_dir}: not a manifest Osiris wrote", _RECOMPILE, "changed"
            ) from None
        if manifest_hash is not None and manifest.hash != manifest_hash:
            raise PlanError(f"{build_dir} now holds another plan", _RECOMPILE, code="other_plan")
        try:
            configs = {s.id: json.loads(files[s.cfg_path]) for s in manifest.steps}
            meta = json.loads(files.get("meta.json", b"{}"))
        except (KeyError, ValueError) as err:
            raise PlanError(f"{build_dir}: {err}", _RECOMPILE, code="changed") from None
        return cls(build_dir, manifest, configs, meta if isinstance(meta, dict) else {})

    @property
    def pipeline(self) -> str:
        return self.manifest.name

    @property
    def manifest_hash(self) -> str:
        return self.manifest.hash

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.manifest.params)

    def steps(self) -> list[ManifestStep]:
        """The steps in the order the plan runs them."""
        return self.manifest.in_order()

    def keeping(
        self, keep: Iterable[str], configs: Mapping[str, dict[str, Any]] | None = None
    ) -> Build:
        """The plan cut to the steps in `keep` (optionally with other configs): what a
        preview or a sample run executes. Never written: it is not a compiled plan."""
        kept = set(keep)
        chosen = self.configs if configs is None else configs
        return replace(
            self,
            manifest=self.manifest.keeping(kept),
            configs={k: v for k, v in chosen.items() if k in kept},
        )

    def stale(self) -> str | None:
        """What changed since the plan was compiled, or None when the compiler and the
        specs of its components are the ones installed now."""
        from compiler.toolchain import compiler_fingerprint
        from components.registry import default_registry

        prints = self.manifest.fingerprints
        if prints.compiler_fp != compiler_fingerprint():
            return "another version of the compiler"
        registry = default_registry()
        used: dict[str, str] = {}
        for step in self.manifest.steps:
            spec = registry.get(step.component)
            if spec is None:
                return f"component '{step.component}', which is no longer installed"
            used[spec.name] = spec.fingerprint
        if canonical.fingerprint(dict(sorted(used.items()))) != prints.registry_fp:
            return "component specs that have changed since"
        return None

    def current(self) -> Build:
        """This build, or a `stale` PlanError when it was compiled by another toolchain."""
        outdated = self.stale()
        if outdated:
            raise PlanError(
                f"{self.build_dir}: the plan was compiled with {outdated}",
                "compile the OML again: a plan runs only with the compiler and "
                "components that made it",
                code="stale",
                detail=outdated,
            )
        return self

    def write_targets(self) -> list[dict[str, Any]]:
        """Every table or file the plan modifies, with its write mode, in run order."""
        from components.registry import default_registry

        registry = default_registry()
        targets: list[dict[str, Any]] = []
        for step in self.steps():
            if step.mode != "write":
                continue
            config = self.configs.get(step.id, {})
            spec = registry.get(step.component)
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
                    "step": step.id,
                    "component": step.component,
                    "kind": kind,
                    "connection": config.get("connection") or (f"@{family}" if family else None),
                    "target": target,
                    "write_mode": config.get("write_mode"),
                }
            )
        return targets

    @property
    def writes_tables(self) -> bool:
        return any(t["kind"] == "database_table" for t in self.write_targets())


class BuildIndex:
    """manifest_hash -> build folder, read from the compile cache (and remembered).

    The index is the compile cache itself (`.osiris/cache/compile/*.json`, written by
    `runtime.app.compile_to_disk` for `osiris compile` and `oml_compile` alike), so a plan
    compiled from the command line can be run over MCP and the other way round.
    """

    def __init__(self, project: Path) -> None:
        self.cache_dir = project / ".osiris" / "cache" / "compile"
        self._known: dict[str, Path] = {}
        self._loaded: dict[str, tuple[tuple[Any, ...], Build]] = {}
        self._lock = threading.Lock()

    def load(self, manifest_hash: str, build_dir: Path) -> Build:
        """`Build.load(build_dir, manifest_hash)`, verified once while its files stay as
        they are: a run over MCP asks for its plan more than once (the confirmation, the
        tool itself), and hashing a big plan each time is wasted work. Any change to a
        file's size or modification time verifies it afresh."""
        signature = _signature(build_dir)
        with self._lock:
            seen = self._loaded.get(manifest_hash)
        if seen is not None and seen[0] == signature and seen[1].build_dir == build_dir:
            return seen[1]
        build = Build.load(build_dir, manifest_hash)
        with self._lock:
            self._loaded[manifest_hash] = (signature, build)
        return build

    def remember(self, manifest_hash: str, build_dir: Path) -> None:
        with self._lock:
            self._known[manifest_hash] = build_dir

    def build_dir(self, manifest_hash: str) -> Path | None:
        """The build folder compiled for this hash, or None when no compile produced it."""
        if len(manifest_hash) != 64 or any(c not in "0123456789abcdef" for c in manifest_hash):
            return None
        with self._lock:
            known = self._known.get(manifest_hash)
        if known is not None and (known / MANIFEST).is_file():
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
                if (build / MANIFEST).is_file():
                    self.remember(manifest_hash, build)
                    return build
        return None


def _signature(build_dir: Path) -> tuple[Any, ...]:
    """Each file of a build folder with its size and modification time."""
    found = []
    for path in sorted(build_dir.rglob("*")):
        with contextlib.suppress(OSError):
            info = path.stat()
            found.append((path.relative_to(build_dir).as_posix(), info.st_size, info.st_mtime_ns))
    return tuple(found)
