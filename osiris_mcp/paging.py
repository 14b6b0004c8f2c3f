"""Result caps and cursors: a listing bigger than the cap is cut at a row boundary.

A tool that returns rows asks `fit_rows` for the longest run of rows, from the cursor's
offset, whose JSON still fits the byte budget; the result then says `truncated`, the
total, and the cursor that returns the next rows. Cursors are opaque to the client but
bound to their listing: a cursor from `run_logs` of one run is refused by another.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

from osiris_mcp.errors import OsirisToolError

#: Room kept for the result's own fields around its rows (counts, hints, ids).
ENVELOPE_BYTES = 2048


@dataclass(frozen=True)
class Page:
    """The rows that fit, where they start, and how to get the rest."""

    rows: list[Any]
    offset: int
    total: int
    next_cursor: str | None

    @property
    def truncated(self) -> bool:
        return self.next_cursor is not None

    def hint(self, tool: str) -> str | None:
        """What the model should do to read on, or None when this page is the last."""
        if self.next_cursor is None:
            return None
        end = self.offset + len(self.rows)
        return (
            f"showing rows {self.offset + 1}-{end} of {self.total}; call {tool} again with "
            f'cursor="{self.next_cursor}" for the next rows'
        )


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON (pydantic models included)."""
    return len(pydantic_core.to_json(value, fallback=str))


def listing_key(*parts: object) -> str:
    """A short digest naming one listing (tool and the arguments that select its rows)."""
    text = json.dumps([str(p) for p in parts], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode_cursor(listing: str, offset: int) -> str:
    raw = json.dumps({"l": listing, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, listing: str) -> int:
    """The offset a cursor points at (0 without one); refuses a cursor of another listing."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["o"]
        if data["l"] != listing or not isinstance(offset, int) or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise OsirisToolError(
            "invalid_cursor",
            "This cursor does not belong to this listing.",
            "Pass the next_cursor of the previous page of the same call unchanged, "
            "or leave cursor out to start from the first row.",
        ) from None
    return offset


def fit_rows(
    rows: Sequence[Any],
    *,
    budget: int,
    listing: str,
    cursor: str | None = None,
    limit: int | None = None,
    size: Callable[[Any], int] = json_size,
) -> Page:
    """The rows from the cursor on whose JSON fits `budget` bytes (at least one row).

    >>> page = fit_rows(["aaaa"] * 10, budget=2048 + 21, listing="x")  # 7 bytes a row
    >>> len(page.rows), page.total, page.truncated
    (3, 10, True)
    >>> fit_rows(["a"] * 3, budget=4096, listing="x").truncated
    False
    """
    offset = min(decode_cursor(cursor, listing), len(rows))
    room = max(budget - ENVELOPE_BYTES, 0)
    taken: list[Any] = []
    used = 0
    for row in rows[offset:]:
        if limit is not None and len(taken) >= limit:
            break
        cost = size(row) + 1  # the comma between rows
        if taken and used + cost > room:
            break
        taken.append(row)
        used += cost
    end = offset + len(taken)
    next_cursor = encode_cursor(listing, end) if end < len(rows) else None
    return Page(taken, offset, len(rows), next_cursor)


def row_room(budget: int) -> int:
    """The most one row may take of a result of `budget` bytes (bigger rows are shortened)."""
    return max(128, (budget - ENVELOPE_BYTES) // 2)


def cut_line(line: str, room: int) -> str:
    """One line, shortened to `room` bytes with a marker saying how long it was.

    >>> cut_line("x" * 300, 128)[-26:]
    'xx … [line cut: 300 bytes]'
    >>> cut_line("short", 128)
    'short'
    """
    size = len(line.encode("utf-8"))
    if size <= room:
        return line
    newline = "\n" if line.endswith("\n") else ""
    marker = f" … [line cut: {size} bytes]{newline}"
    head = line.encode("utf-8")[: max(0, room - len(marker.encode()))].decode("utf-8", "ignore")
    return head + marker


def cut_text(text: str, budget: int) -> tuple[str, bool]:
    """`text` cut at the last line boundary within `budget` bytes, and whether it was cut."""
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text, False
    head = data[:budget].decode("utf-8", "ignore")
    newline = head.rfind("\n")
    return (head[: newline + 1] if newline > 0 else head), True
