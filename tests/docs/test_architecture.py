"""docs/architecture.md names real modules and functions at every hop: a rename that
forgets the map fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_and_function_the_walk_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) >= 10
    for row in rows:
        _, module, functions, _ = (cell.strip() for cell in row.strip("|").split("|", 3))
        path = ROOT / module.strip("`")
        assert path.is_file(), f"{row[:60]}: no file {path}"
        source = path.read_text("utf-8")
        for name in re.findall(r"`([A-Za-z_][\w.]*)`", functions):
            last = name.split(".")[-1]
            assert re.search(rf"^\s*(def|class) {last}\b|^{last} = ", source, re.M), (
                f"{module} has no {name}"
            )
    for module in set(
        re.findall(r"`((?:compiler|runtime|components|osiris_mcp|grammar)/[\w/]+\.py)`", text)
    ):
        assert (ROOT / module).is_file(), f"docs/architecture.md names {module}, which is gone"
