"""What a step's connection resolves to, as the manifest records it: non-secret values and
where each came from.

The compiler opens no connections file: its caller resolves the project's connections and
hands in their facts (`CompileContext.connection_facts`, from
`runtime.connections.ConnectionsFile.facts`). This overlays the step's inline fields on
them in the order the runtime resolves: inline > `@family.alias` > the family's default >
its environment variables. Inline secrets never get here: the secrets pass refuses them.

>>> facts = {"@mysql": {"ref": "@mysql.main", "fields": {
...     "host": {"from": "@mysql.main", "value": "db"},
...     "password": {"from": "@mysql.main", "secret": True}}}}
>>> entry = recorded_connection(None, "mysql", {"database": "shop"}, facts)
>>> entry["ref"], entry["fields"]["database"], entry["fields"]["password"]
('@mysql.main', {'from': 'inline', 'value': 'shop'}, {'from': '@mysql.main', 'secret': True})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INLINE = "inline"


def recorded_connection(
    ref: str | None,
    family: str,
    inline: Mapping[str, Any],
    facts: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any] | None:
    """The manifest's `connection` entry of one step, or None when nothing is known of it
    (an unknown reference is the references pass's error, OML209)."""
    known = facts.get(ref or f"@{family}")
    if known is None and not inline:
        return None
    fields: dict[str, Any] = dict(known["fields"]) if known else {}
    for name, value in inline.items():
        fields[name] = {"from": INLINE, "value": value}
    entry: dict[str, Any] = {"ref": str(known["ref"]) if known else f"@{family}"}
    if known and known.get("from"):
        entry["from"] = known["from"]
    entry["fields"] = {name: fields[name] for name in sorted(fields)}
    return entry
