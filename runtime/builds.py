"""Build folders on disk: atomic writes of compiled files and the compile cache.

The compiler returns bytes; this module decides where they live. A build folder is
written to a temporary sibling and renamed into place, so a reader never sees half a
build. The compile cache maps the five compile inputs to the build that came of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from compiler import canonical
from compiler.model import pipeline_slug
from components.common import strict_yaml
from components.common.atomic import write_atomic


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
    from compiler.emit import verify

    try:
        files = read_build(path)
        if verify(files):
            return False
        meta = json.loads(files["meta.json"])
        manifest = strict_yaml.load(files["manifest.yaml"])
        recorded = str(manifest["pipeline"]["fingerprints"]["manifest_fp"])
        return isinstance(meta, dict) and meta.get("manifest_hash") == recorded.removeprefix(
            "sha256:"
        )
    except (OSError, ValueError, KeyError, TypeError):  # a YamlError is a ValueError
        return False  # not a build Osiris can read: not one it may replace


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
        from compiler.emit import verify

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
