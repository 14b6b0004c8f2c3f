"""The one finding type of the SQL analyses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding in one SQL text; `span` is (start, end) in that text, end exclusive."""

    code: str
    message: str
    span: tuple[int, int] | None = None
    hint: str | None = None
    suggestions: tuple[str, ...] = ()
