"""The compatibility corpus: OML files in the 0.5.7 idiom, each with the verdict Osiris owes it.

Every file under tests/corpus/compat/pipelines opens with a comment block that states it:

    # expect: invalid            (or: valid)
    # errors: SQL400, SQL405     (codes that must be among the errors)
    # warnings: OML309           (codes that must be among the warnings)
    # warning_text: needs:       (text some warning's message or hint must contain)
    # why: one line on why this is the right verdict under OML v0.1.0

The test in this folder checks Osiris against it; bench/compat.py reads the same block to
explain each disagreement with the reference tool in docs/compatibility.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "tests" / "corpus" / "compat"
PIPELINES = COMPAT / "pipelines"
#: the reference tool's verdicts, written by bench/compat.py (never by hand)
REFERENCE_VERDICTS = COMPAT / "reference_verdicts.json"

_FIELD = re.compile(r"^# (?P<key>[a-z_]+): (?P<value>.*)$")
_KEYS = {"expect", "errors", "warnings", "warning_text", "why"}


@dataclass(frozen=True)
class Expectation:
    """What Osiris must say about one corpus file."""

    path: Path
    valid: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    warning_text: str | None
    why: str

    @property
    def name(self) -> str:
        return self.path.stem


def _codes(value: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in (value or "").split(",") if c.strip())


def read_expectation(path: Path) -> Expectation:
    """The leading comment block of `path`; a malformed block raises ValueError naming why."""
    fields: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        match = _FIELD.match(line)
        if not line.startswith("#"):
            break
        if match is None:
            continue
        if match["key"] not in _KEYS:
            raise ValueError(f"{path.name}: unknown header field {match['key']!r}")
        fields[match["key"]] = match["value"].strip()
    if fields.get("expect") not in ("valid", "invalid"):
        raise ValueError(f"{path.name}: the header needs '# expect: valid' or '# expect: invalid'")
    if not fields.get("why"):
        raise ValueError(f"{path.name}: the header needs '# why: ...' (the reasoned verdict)")
    valid = fields["expect"] == "valid"
    errors = _codes(fields.get("errors"))
    if valid == bool(errors):
        raise ValueError(f"{path.name}: an invalid file lists its error codes, a valid one none")
    return Expectation(
        path=path,
        valid=valid,
        errors=errors,
        warnings=_codes(fields.get("warnings")),
        warning_text=fields.get("warning_text"),
        why=fields["why"],
    )


def corpus() -> list[Expectation]:
    """Every corpus file with its expectation, in file-name order."""
    return [read_expectation(p) for p in sorted(PIPELINES.glob("*.yaml"))]
