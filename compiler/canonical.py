"""The one canonical writer: the same value gives the same bytes on any machine.

Sorted keys, UTF-8, LF line ends, no trailing spaces, no floats written two ways. Every
file the compiler emits and every fingerprint it computes goes through here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml


def json_bytes(value: Any) -> bytes:
    """Compact canonical JSON, for hashing."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def json_file(value: Any) -> bytes:
    """Readable canonical JSON, for files: two-space indent, sorted keys, final newline."""
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings (SQL) as `|` literals so they read as written."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data and all(line == line.rstrip() for line in data.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def yaml_file(value: Any) -> bytes:
    """Canonical YAML: key order as given (the emitter builds it in a fixed order)."""
    text = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100_000,
        indent=2,
    )
    return text.encode("utf-8")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fingerprint(value: Any) -> str:
    """`sha256:<hex>` over the canonical JSON of a value."""
    return sha256(json_bytes(value))
