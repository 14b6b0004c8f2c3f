"""Is this install whole? Osiris's top-level packages have generic names (`grammar`,
`compiler`, `runtime`, `components`), so another distribution installed into the same
environment can shadow or overwrite one of them; `osiris --version` says so."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from base64 import urlsafe_b64encode
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "osiris-oml"
PACKAGES = ("grammar", "compiler", "runtime", "components", "osiris_mcp", "osiris")
ISOLATED_INSTALL_HINT = (
    "install Osiris in an environment of its own: pipx install osiris-oml "
    "(or uv tool install osiris-oml)"
)


def foreign_packages() -> list[str]:
    """One line per top-level package that Python imports from somewhere other than the
    osiris-oml distribution's own files (empty when the install is whole, or when Osiris
    runs from a source tree that was never installed)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return []
    source_tree = _editable_source(dist)
    records = {str(f): f for f in dist.files or []}
    problems: list[str] = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None:
            problems.append(f"{name}: not importable")
            continue
        if source_tree is not None:
            expected = (source_tree / name / "__init__.py").resolve()
            if origin != expected:
                problems.append(f"{name}: imported from {origin}, not from {expected}")
            continue
        record = records.get(f"{name}/__init__.py")
        if record is None or Path(str(dist.locate_file(record))).resolve() != origin:
            problems.append(f"{name}: imported from {origin}, which {DISTRIBUTION} did not install")
            continue
        changed = _changed_files(
            dist, [f for key, f in records.items() if key.startswith(name + "/")]
        )
        if changed:
            problems.append(
                f"{name}: {changed[0]}"
                + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
                + f" overwritten since {DISTRIBUTION} installed it"
            )
    return problems


def _editable_source(dist: metadata.Distribution) -> Path | None:
    """The source tree of an editable install (`pip install -e`), else None."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        direct = json.loads(text)
    except ValueError:
        return None
    if not direct.get("dir_info", {}).get("editable"):
        return None
    url = str(direct.get("url", ""))
    return Path(url.removeprefix("file://")) if url.startswith("file://") else None


def _changed_files(dist: metadata.Distribution, files: list[metadata.PackagePath]) -> list[str]:
    """Installed .py files whose bytes no longer match the hash the install recorded."""
    changed = []
    for record in files:
        if record.hash is None or record.hash.mode != "sha256" or record.suffix != ".py":
            continue
        path = Path(str(dist.locate_file(record)))
        try:
            digest = hashlib.sha256(path.read_bytes()).digest()
        except OSError:
            changed.append(str(record))
            continue
        if urlsafe_b64encode(digest).rstrip(b"=").decode() != record.hash.value:
            changed.append(str(record))
    return changed
