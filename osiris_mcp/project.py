"""The project the server serves: its folders, and the checks that keep every path inside them.

Every name a client sends (a pipeline name, a run file, an artifact) goes through one of
the functions below before it touches the disk. Each refuses anything but a plain name
or a relative path of plain segments that stays inside its base folder once symlinks
are resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: A pipeline name: what `oml_save` and `oml_compile` accept (an optional .yaml/.yml suffix).
PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
#: One segment of a relative path inside a served folder: no hidden files, no `..`.
SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]{0,199}$")
#: Identifiers clients quote back to us (run ids, component names, example names).
IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MANIFEST_HASH = re.compile(r"^[0-9a-f]{64}$")

DEFAULT_MAX_RESULT_BYTES = 64 * 1024
DEFAULT_MAX_RESOURCE_BYTES = 1024 * 1024


class UnsafePath(ValueError):
    """A name or path that is not a plain name inside its base folder."""


@dataclass(frozen=True)
class Project:
    """The folder the server works in, and the limits it applies."""

    root: Path
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    max_resource_bytes: int = DEFAULT_MAX_RESOURCE_BYTES
    #: Database writes for clients that cannot ask the user (`--writes`): deny, confirm, allow.
    writes: str = "deny"

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    @property
    def state_dir(self) -> Path:
        """`.osiris/mcp`: the audit log and the server log."""
        return self.root / ".osiris" / "mcp"

    @property
    def memory_dir(self) -> Path:
        return self.root / ".osiris" / "memory"


def pipeline_file(project: Project, name: str) -> Path:
    """The file of a saved pipeline under `pipelines/`.

    Rejects path separators, `..`, hidden or absolute names and anything but letters,
    digits, `_` and `-` (plus an optional `.yaml`/`.yml`), and a file that is a symlink.

    >>> pipeline_file(Project(Path("/p")), "orders_daily").as_posix()
    '/p/pipelines/orders_daily.yaml'
    >>> pipeline_file(Project(Path("/p")), "../etc/passwd")
    Traceback (most recent call last):
    ...
    osiris_mcp.project.UnsafePath: '../etc/passwd' is not a plain pipeline name
    """
    stem = name[:-5] if name.endswith(".yaml") else name[:-4] if name.endswith(".yml") else name
    if not PIPELINE_NAME.match(stem):
        raise UnsafePath(f"{name!r} is not a plain pipeline name")
    suffix = ".yml" if name.endswith(".yml") else ".yaml"
    path = project.pipelines_dir / f"{stem}{suffix}"
    if path.is_symlink():
        raise UnsafePath(f"{name!r} is a symbolic link; pipelines are plain files")
    if project.pipelines_dir.exists() and not _inside(path, project.pipelines_dir):
        raise UnsafePath(f"{name!r} resolves outside pipelines/")
    return path


def file_inside(base: Path, relative: str) -> Path:
    """`base/relative` for a relative path of plain segments that stays inside `base`.

    Rejects empty and absolute paths, backslashes, `..`, `.`, hidden segments, NUL and a
    result that leaves `base` once symlinks are resolved.

    >>> file_inside(Path("/b"), "cfg/extract.json").as_posix()
    '/b/cfg/extract.json'
    >>> file_inside(Path("/b"), "cfg/../../x")
    Traceback (most recent call last):
    ...
    osiris_mcp.project.UnsafePath: 'cfg/../../x' is not a plain relative path
    """
    if not relative or "\\" in relative or "\0" in relative or relative.startswith("/"):
        raise UnsafePath(f"{relative!r} is not a plain relative path")
    parts = relative.split("/")
    if len(parts) > 8 or not all(SEGMENT.match(part) for part in parts):
        raise UnsafePath(f"{relative!r} is not a plain relative path")
    path = base.joinpath(*parts)
    if not _inside(path, base):
        raise UnsafePath(f"{relative!r} resolves outside its folder")
    return path


def check_identifier(value: str, what: str) -> str:
    """`value` when it is a plain identifier (no separators, no `..`), else `UnsafePath`."""
    if not IDENTIFIER.match(value) or ".." in value:
        raise UnsafePath(f"{value!r} is not a valid {what}")
    return value


def _inside(path: Path, base: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False
