"""The catalog: what discovery learned about a source, in the shape the compiler checks SQL against.

The runtime fills it (runtime/discovery/) and stores it (runtime/catalog.py); the
compiler only reads it, so it lives here, beside the passes that use it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Column(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str  # as the source names it, e.g. "decimal(10,2)"
    #: integer, decimal, float, boolean, string, text, date, datetime, timestamptz, time,
    #: json, binary, uuid or other
    normalized_type: str
    nullable: bool = True
    default: str | None = None


class ForeignKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


class Table(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_name: str = Field(alias="schema")
    name: str
    kind: Literal["table", "view", "file"] = "table"
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_estimate: int | None = None
    size_bytes: int | None = None
    samples: tuple[dict[str, object], ...] = ()

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


class Catalog(BaseModel):
    """Every table of one connection that discovery saw."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    connection: str  # "@family.alias"
    family: str
    default_schema: str | None = None
    tables: tuple[Table, ...] = ()

    def table(self, name: str, schema: str | None = None) -> Table | None:
        lowered = name.lower()
        want = (schema or self.default_schema or "").lower()
        matches = [t for t in self.tables if t.name.lower() == lowered]
        if len(matches) > 1 and want:
            matches = [t for t in matches if t.schema_name.lower() == want] or matches
        return matches[0] if matches else None
