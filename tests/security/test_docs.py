"""docs/security.md names the test behind each line of its threat model: each one exists."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
SHORT = re.compile(r"(?<![\w/])::(test_\w+)")  # `::name`: another test of the file just named


def test_every_test_the_threat_model_names_exists() -> None:
    text = DOC.read_text("utf-8")
    cited: list[tuple[str, str | None]] = []
    last_file = ""
    for match in re.finditer(rf"{REFERENCE.pattern}|{SHORT.pattern}", text):
        if match.group(1):
            last_file = match.group(1)
            cited.append((last_file, match.group(2)))
        else:
            cited.append((last_file, match.group(3)))
    assert len(cited) >= 50
    missing = []
    for path, name in cited:
        source = ROOT / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"^(async )?def {name}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == []
