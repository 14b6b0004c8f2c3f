"""docs/diagnostics.md documents every code, and every code the code base emits is known."""

from __future__ import annotations

import re
from pathlib import Path

from compiler.diagnostics import CODES
from tests.docs.diagnostics_catalog import TARGET, build

ROOT = Path(__file__).resolve().parents[2]
CODE_LITERAL = re.compile(r"""["']((?:OML|SQL|SEC|PAR|INT)\d{3})["']""")


def test_every_code_is_documented_with_a_real_example() -> None:
    text = TARGET.read_text("utf-8")
    for code in CODES:
        assert f"### {code} — " in text, f"{code} is not in docs/diagnostics.md"


def test_the_catalog_is_current() -> None:
    assert TARGET.read_text("utf-8") == build(), "run `make docs` to regenerate docs/diagnostics.md"


def test_every_code_in_the_code_base_is_in_the_table() -> None:
    emitted: set[str] = set()
    for folder in ("compiler", "grammar", "runtime", "osiris_mcp", "components"):
        for path in (ROOT / folder).rglob("*.py"):
            emitted.update(CODE_LITERAL.findall(path.read_text("utf-8")))
    unknown = emitted - set(CODES)
    assert not unknown, f"codes used but not in CODES: {sorted(unknown)}"
