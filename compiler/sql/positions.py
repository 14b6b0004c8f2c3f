"""Offsets in the SQL as bound (params substituted) mapped back to the file's text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler.loader import Scalar
from compiler.program import Program, param_text
from grammar import ParamRef

if TYPE_CHECKING:
    pass


# ---- offsets: the bound SQL vs the text in the file -----------------------------------


class OffsetMap:
    """Maps offsets in the SQL as bound (params substituted) to offsets in the file's text.

    `regions` are the (start, end) of each substituted value in the bound text, with the
    `${params.x}` it came from.
    """

    def __init__(
        self, pieces: list[tuple[int, int, int, int]], regions: list[tuple[int, int, str]]
    ):
        self.pieces = pieces  # (bound_start, bound_end, source_start, source_end)
        self.regions = regions

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        return cls([(0, length, 0, length)], [])

    def start(self, offset: int) -> int:
        for b_start, b_end, s_start, s_end in self.pieces:
            if b_start <= offset < b_end or (b_start == b_end == offset):
                return min(s_start + (offset - b_start), max(s_end - 1, s_start))
        return self.pieces[-1][3] if self.pieces else offset

    def end(self, offset: int) -> int:
        """Map an exclusive end offset."""
        return max(self.start(max(offset - 1, 0)) + 1, 0)

    def span(self, span: tuple[int, int]) -> tuple[int, int]:
        return (self.start(span[0]), self.end(span[1]))


def offset_map(program: Program, path: str, bound: str) -> OffsetMap:
    template = program.templates.get(path)
    node = program.node(path)
    if template is None or not isinstance(node, Scalar):
        return OffsetMap.identity(len(bound))
    pieces: list[tuple[int, int, int, int]] = []
    regions: list[tuple[int, int, str]] = []
    b = s = 0
    for part in template.parts:
        if isinstance(part, str):
            refs_after = [r for r in template.references if r.span.start >= s]
            s_end = refs_after[0].span.start if refs_after else len(node.text)
            pieces.append((b, b + len(part), s, max(s_end, s)))
            b, s = b + len(part), s_end
        elif isinstance(part, ParamRef) and part.name in program.params:
            value = param_text(program.params[part.name])
            # every offset inside the value maps onto the whole `${params.x}`
            pieces.extend(
                (b + i, b + i + 1, part.span.start, part.span.end) for i in range(len(value))
            )
            regions.append((b, b + len(value), str(part)))
            b, s = b + len(value), part.span.end
        else:
            return OffsetMap.identity(len(bound))
    if b != len(bound):
        return OffsetMap.identity(len(bound))
    return OffsetMap(pieces, regions)
