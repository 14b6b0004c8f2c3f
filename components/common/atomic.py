"""Atomic file writes: readers see the old bytes or the new, never a mix or a stub.

>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "out" / "status.json"
>>> write_atomic(target, b"{}")
>>> target.read_bytes(), [p.name for p in target.parent.iterdir()]
(b'{}', ['status.json'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class TargetExists(FileExistsError):
    """An exclusive write found a file at its target (and wrote nothing)."""


def write_atomic(
    path: Path, data: bytes, *, mode: int | None = None, exclusive: bool = False
) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename.

    The folder is created if needed. `mode` sets the file's permissions (by default the
    temporary file's, owner-only); with `exclusive`, a file that exists at `path` is
    never replaced: `TargetExists` is raised and nothing is written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        if exclusive:
            try:
                os.link(tmp, path)  # atomic, and refuses an existing file
            except FileExistsError:
                raise TargetExists(str(path)) from None
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
