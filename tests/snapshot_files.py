"""A syrupy extension that keeps each snapshot as a readable file under the top-level snapshots/.

Snapshots are reviewed like code: a change to compiled output or to the MCP tool
contract shows up as a plain-text diff. Update them with `make snapshots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"


class TextSnapshot(SingleFileSnapshotExtension):
    """One snapshot, one UTF-8 text file: snapshots/<test module>/<test name>.<ext>."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"

    def serialize(self, data: Any, **_: Any) -> str:
        if not isinstance(data, str):
            raise TypeError("TextSnapshot stores text: render the value first")
        return data

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / test_location.basename.removeprefix("test_"))


class YamlSnapshot(TextSnapshot):
    file_extension = "yaml"


class JsonSnapshot(TextSnapshot):
    file_extension = "json"
