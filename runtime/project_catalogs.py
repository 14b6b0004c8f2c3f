"""The compiler's view of a project's cached catalogs (`--catalog auto`).

Light to import: the store and the connections file are opened only when the
compiler asks for a catalog, and only where something was ever discovered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from compiler import canonical
from compiler.catalog import Catalog


class ProjectCatalogs(Mapping[str, Catalog]):
    """The compiler's view of a project's cached catalogs, by connection reference.

    Looked up lazily and only in the local store (`CatalogStore.cached`): compiling
    never connects to a source. A reference that cannot be resolved (unknown alias,
    a ${VAR} not set) simply has no catalog, so schema checks are skipped for it.
    """

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)
        self._found: dict[str, Catalog | None] = {}
        self._connections: Any = None
        self._store: Any = None

    def get(self, ref: str, default: Any = None) -> Any:  # type: ignore[override]
        if ref not in self._found:
            self._found[ref] = self._lookup(ref)
        found = self._found[ref]
        return default if found is None else found

    def _lookup(self, ref: str) -> Catalog | None:
        from runtime.connections import ConnectionError as ConnectionProblem
        from runtime.connections import ConnectionsFile, parse_ref

        if not (self.project_dir / ".osiris" / "cache").is_dir():
            return None  # nothing was ever discovered here: skip opening the store
        try:
            family, _ = parse_ref(ref)
            if self._connections is None:
                self._connections = ConnectionsFile.load(self.project_dir)
            resolved = self._connections.resolve(ref, family)
            if self._store is None:
                from runtime.catalog import CatalogStore

                self._store = CatalogStore(self.project_dir)
            return self._store.cached(resolved)
        except (ConnectionProblem, OSError, ValueError):
            return None

    def observed(self) -> dict[str, str | None]:
        """Every reference the compiler asked for, with the fingerprint of what it got.

        A compile cache entry keeps this: the build is reused only while each of these
        catalogs is unchanged (a new discovery can add a check or a pushdown).
        """
        return {
            ref: canonical.fingerprint(found.model_dump(mode="json")) if found else None
            for ref, found in sorted(self._found.items())
        }

    def observed_now(self, refs: Iterable[str]) -> dict[str, str | None]:
        """`observed()` for these references, looked up afresh."""
        for ref in refs:
            self.get(ref)
        return self.observed()

    def __getitem__(self, ref: str) -> Catalog:
        found = self.get(ref)
        if found is None:
            raise KeyError(ref)
        return found  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, v in self._found.items() if v is not None])

    def __len__(self) -> int:
        return sum(v is not None for v in self._found.values())
