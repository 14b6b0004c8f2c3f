"""JSON records (from an HTTP API) into the step's data-plane table, one page at a time.

An API hands rows over as JSON objects, page by page, and nothing says up front which
keys or types will come. `JsonTable` keeps one typed column per key, in first-seen
order, and each page goes in as one Arrow batch, so memory holds one page, never the
table. A column's type is the narrowest that holds every value seen so far:

| values                 | column type |
|------------------------|-------------|
| true/false             | BOOLEAN     |
| whole numbers (64-bit) | BIGINT      |
| numbers                | DOUBLE      |
| anything else          | VARCHAR     |

A value of another kind widens the column (BIGINT → DOUBLE, anything → VARCHAR), and the
rows already loaded are cast with it, so no value is lost: a string keeps its text, a
number that meets a string becomes its text (a whole number already widened to DOUBLE
reads `2.0`). Lists and objects that are not
flattened are stored as their JSON text. A key a page lacks is NULL in that page's rows.

>>> import duckdb
>>> plane = duckdb.connect()
>>> table = JsonTable(plane, '"t"')
>>> table.add_page([flatten({"id": 1, "user": {"name": "ann"}}), {"id": 2.5, "tags": ["a"]}])
2
>>> plane.execute('SELECT * FROM "t"').fetchall()
[(1.0, 'ann', None), (2.5, None, '["a"]')]
>>> table.types()
[('id', 'DOUBLE'), ('user.name', 'VARCHAR'), ('tags', 'VARCHAR')]
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from components.common.quoting import quote_identifier

_ARROW = {
    "BOOLEAN": pa.bool_(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
}
_WIDER = {
    ("BIGINT", "DOUBLE"): "DOUBLE",
    ("DOUBLE", "BIGINT"): "DOUBLE",
}
_INT64 = (-(2**63), 2**63 - 1)


def flatten(record: Mapping[str, Any], separator: str = ".", prefix: str = "") -> dict[str, Any]:
    """Nested objects as `parent.child` keys (pandas' json_normalize naming); lists kept.

    >>> flatten({"a": 1, "b": {"c": 2, "d": {"e": None}}, "f": [1]})
    {'a': 1, 'b.c': 2, 'b.d.e': None, 'f': [1]}
    """
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, separator, name + separator))
        else:
            flat[name] = value
    return flat


def kind_of(value: Any) -> str | None:
    """The column type a JSON value needs alone (None for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT" if _INT64[0] <= value <= _INT64[1] else "VARCHAR"
    if isinstance(value, float):
        return "DOUBLE"
    return "VARCHAR"


def as_text(value: Any) -> str | None:
    """A value for a VARCHAR column: strings as they are, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _is_parent(name: str, columns: Mapping[str, Any]) -> bool:
    prefix = name + "."
    return any(column.startswith(prefix) for column in columns)


class JsonTable:
    """The step's output table, built page by page from JSON records."""

    def __init__(self, plane: Any, table: str) -> None:
        self.plane = plane
        self.table = table
        #: name -> DuckDB type, in first-seen order; None: only nulls so far (VARCHAR in
        #: the table until a value gives the column its type)
        self.columns: dict[str, str | None] = {}
        #: JSON key -> column name. DuckDB names are case-insensitive, so a key that
        #: differs from an earlier one only in case (`email`, `Email`) gets `_2`, `_3`...;
        #: an empty key is `_`.
        self.names: dict[str, str] = {}
        self._taken: set[str] = set()
        self.created = False
        self.rows = 0

    def types(self) -> list[tuple[str, str]]:
        return [(name, kind or "VARCHAR") for name, kind in self.columns.items()]

    @contextlib.contextmanager
    def loading(self) -> Iterator[JsonTable]:
        """One transaction for every page: a failed page leaves no half-filled table."""
        self.plane.execute("BEGIN TRANSACTION")
        try:
            yield self
            self.plane.execute("COMMIT")
        except BaseException:
            self.plane.execute("ROLLBACK")
            raise

    def add_page(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append one page of (already flat) records; returns how many rows it held."""
        page = [{self._name(k): v for k, v in r.items()} for r in records]
        if not page:
            return 0
        self._widen(page)
        batch = self._batch(page)
        # An Arrow relation, as in components/sql/io.py: the locked data plane makes no
        # replacement scan.
        # The batch has the table's columns in the table's order (`_batch`).
        self.plane.from_arrow(batch).insert_into(self.table)
        self.rows += len(page)
        return len(page)

    def finish(self, columns: Sequence[tuple[str, str]] = ()) -> None:
        """Make sure the table exists, even for an API that returned no rows at all.

        `columns` (name, type) are what an empty result still has, when they are known.
        """
        if self.created:
            return
        self.columns = {self._name(name): kind for name, kind in columns}
        # a table needs a column: an empty answer with nothing known gets a placeholder
        self._create() if self.columns else self.plane.execute(
            f"CREATE OR REPLACE TABLE {self.table} (_empty VARCHAR)"
        )
        self.created = True

    def _name(self, key: str) -> str:
        name = self.names.get(key)
        if name is None:
            base = key or "_"
            name, n = base, 2
            while name.lower() in self._taken:
                name, n = f"{base}_{n}", n + 1
            self._taken.add(name.lower())
            self.names[key] = name
        return name

    def _create(self) -> None:
        definition = ", ".join(
            f"{quote_identifier(n)} {t or 'VARCHAR'}" for n, t in self.columns.items()
        )
        self.plane.execute(f"CREATE OR REPLACE TABLE {self.table} ({definition})")

    def _widen(self, page: Sequence[Mapping[str, Any]]) -> None:
        wanted = dict(self.columns)
        for record in page:
            for name, value in record.items():
                kind = kind_of(value)
                if kind is None and name not in wanted and _is_parent(name, wanted):
                    continue  # a null object whose fields are columns already: NULL in each
                if name not in wanted:
                    wanted[name] = kind
                    continue
                have = wanted[name]
                if kind is None or kind == have:
                    continue
                wanted[name] = kind if have is None else _WIDER.get((have, kind), "VARCHAR")
        for name in [n for n, k in wanted.items() if k is None and n not in self.columns]:
            if _is_parent(name, wanted):
                del wanted[name]  # null before its fields were seen, in the same page
        if not self.created:
            self.columns = wanted
            self._create()
            self.created = True
            return
        for name, kind in wanted.items():
            if name not in self.columns:
                self.plane.execute(
                    f"ALTER TABLE {self.table} ADD COLUMN "
                    f"{quote_identifier(name)} {kind or 'VARCHAR'}"
                )
            elif kind != self.columns[name] and kind is not None:
                # the rows already loaded are cast: BIGINT → DOUBLE exactly, anything →
                # its text (1, 1.5, true), NULL-only VARCHAR → the first real type
                quoted = quote_identifier(name)
                self.plane.execute(
                    f"ALTER TABLE {self.table} ALTER {quoted} TYPE {kind} "
                    f"USING CAST({quoted} AS {kind})"
                )
        self.columns = wanted

    def _batch(self, page: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
        arrays = []
        for name, kind in self.columns.items():
            values = [record.get(name) for record in page]
            if kind in (None, "VARCHAR"):
                values = [as_text(v) for v in values]
            elif kind == "DOUBLE":
                values = [float(v) if v is not None else None for v in values]
            arrays.append(pa.array(values, type=_ARROW[kind or "VARCHAR"]))
        return pa.RecordBatch.from_arrays(arrays, names=list(self.columns))
