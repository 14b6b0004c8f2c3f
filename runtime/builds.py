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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compiler import canonical


def default_build_dir(project: Path, pipeline: str, manifest_short: str) -> Path:
    return project / "build" / pipeline / manifest_short


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old bytes or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_build(files: Mapping[str, bytes], out_dir: Path) -> Path:
    """Write a build's files into `out_dir`, replacing what was there, atomically."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
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
