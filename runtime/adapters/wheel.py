"""The Osiris wheel a sandbox installs: built from the code that is running, cached by content.

A sandbox must run exactly the code that compiled the plan, whether this Osiris is a
release from PyPI or an editable checkout with local edits. So the wheel is built from
the installed distribution itself: the metadata pip recorded (`METADATA`, entry points)
and every file of its top-level packages as Python imports them, never `.pyc` files or
`__pycache__`. Building is a zip of a few hundred small files (milliseconds, no build
backend, no network); the result is deterministic (sorted entries, fixed timestamps), and
it is cached under `.osiris/cache/wheels/<hash>/` by a hash of everything that goes in.
The hash is also the wheel's local version label (`0.1.0+h1a2b3c4d5e6f`), so the sandbox's
`pip` and the logs name the exact code.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from components.common.atomic import write_atomic

DISTRIBUTION = "osiris-oml"
#: Files of a package directory that never go into the wheel.
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".so.tmp")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: entries carry no build time


@dataclass(frozen=True)
class Wheel:
    """A built wheel on disk: `path`, its file `name`, and the content `sha256`."""

    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def osiris_wheel(cache_root: Path) -> Wheel:
    """The wheel of the running Osiris, from `cache_root/<hash>/` or built there now.

    >>> import tempfile
    >>> first = osiris_wheel(Path(tempfile.mkdtemp()))
    >>> first.name.startswith("osiris_oml-") and first.name.endswith("-py3-none-any.whl")
    True
    >>> osiris_wheel(first.path.parents[1]) == first   # cached by content
    True
    """
    dist = installed_distribution()
    files = _package_files(dist)
    digest = hashlib.sha256()
    for name, data in [("METADATA", _metadata_text(dist, "").encode()), *sorted(files.items())]:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    content = digest.hexdigest()
    version = f"{dist.version.split('+')[0]}+h{content[:12]}"
    filename = f"{_normalized(DISTRIBUTION)}-{version}-py3-none-any.whl"
    target = cache_root / content / filename
    if target.is_file():
        return Wheel(target, content)
    data = _zip_wheel(dist, files, version)
    write_atomic(target, data, mode=0o644)
    return Wheel(target, content)


def installed_distribution() -> metadata.Distribution:
    """The installed `osiris-oml`: its `.dist-info` when one exists, rather than an
    `.egg-info` a source build left in the working directory (found first on sys.path)."""
    found = list(metadata.distributions(name=DISTRIBUTION))
    if not found:
        raise RuntimeError(f"{DISTRIBUTION} is not installed: pip install it (or -e .)")
    with_metadata = [dist for dist in found if dist.read_text("METADATA") is not None]
    return (with_metadata or found)[0]


def _package_files(dist: metadata.Distribution) -> dict[str, bytes]:
    """`package/relative/path` → bytes, for every top-level package the distribution installs."""
    top_level = (dist.read_text("top_level.txt") or "").split()
    if not top_level:
        raise RuntimeError(f"{DISTRIBUTION} records no top-level packages (top_level.txt)")
    files: dict[str, bytes] = {}
    for package in top_level:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"cannot locate the package {package!r} of {DISTRIBUTION}")
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if (
                not path.is_file()
                or _SKIPPED_DIRS & set(relative.parts)
                or any(part.startswith(".") for part in relative.parts)
                or path.name.endswith(_SKIPPED_SUFFIXES)
            ):
                continue
            files[f"{package}/{relative.as_posix()}"] = path.read_bytes()
    return files


def _metadata_text(dist: metadata.Distribution, version: str) -> str:
    """The installed METADATA (an egg-info's PKG-INFO, completed with its requirements),
    with `version` (when given) as its Version."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    head, sep, body = text.partition("\n\n")
    lines = head.splitlines() or ["Metadata-Version: 2.1", f"Name: {DISTRIBUTION}"]
    if not any(line.startswith("Version:") for line in lines):
        lines.append(f"Version: {dist.version}")
    if not any(line.startswith("Requires-Dist:") for line in lines):
        lines += [f"Requires-Dist: {requirement}" for requirement in dist.requires or []]
    if version:
        lines = [f"Version: {version}" if line.startswith("Version:") else line for line in lines]
    return "\n".join(lines) + "\n" + (sep[1:] + body if sep else "")


def _zip_wheel(dist: metadata.Distribution, files: dict[str, bytes], version: str) -> bytes:
    info = f"{_normalized(DISTRIBUTION)}-{version}.dist-info"
    entries = dict(sorted(files.items()))
    entries[f"{info}/METADATA"] = _metadata_text(dist, version).encode()
    entries[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: osiris (runtime/adapters/wheel.py)\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
    if scripts:
        lines = ["[console_scripts]"] + [f"{ep.name} = {ep.value}" for ep in scripts]
        entries[f"{info}/entry_points.txt"] = ("\n".join(lines) + "\n").encode()
    top_level = dist.read_text("top_level.txt") or ""
    entries[f"{info}/top_level.txt"] = top_level.encode()
    record = [f"{name},sha256={_record_hash(data)},{len(data)}" for name, data in entries.items()]
    record.append(f"{info}/RECORD,,")
    entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return buffer.getvalue()


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _normalized(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")
