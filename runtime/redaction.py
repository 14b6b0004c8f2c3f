"""The one redactor: every line Osiris writes about a run passes through it.

It knows the run's resolved secret values and masks them wherever they appear — in
event data, metric tags, error messages from database drivers — plus any password
written inside a URL or a key=value DSN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<password>[^@\s/]+)@")
_DSN_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE
)


class Redactor:
    """Masks known secret values (and URL/DSN passwords) in text and in nested data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Very short values would mask ordinary words; a connection secret is never that short.
        fresh = {s for s in secrets if isinstance(s, str) and len(s) >= 4} - self._secrets
        if not fresh:
            return
        self._secrets |= fresh
        variants = set(self._secrets)
        for secret in self._secrets:
            variants.update(encoded_forms(secret))
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def text(self, value: str) -> str:
        if self._pattern is not None:
            value = self._pattern.sub(MASK, value)
        value = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", value)
        return _DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, value)

    def data(self, value: Any) -> Any:
        """A copy of nested data with every string redacted (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def json_line(self, record: Any) -> str:
        """One JSONL line, redacted before and after encoding."""
        line = json.dumps(self.data(record), ensure_ascii=False, default=str, sort_keys=False)
        return self.text(line)


def encoded_forms(secret: str) -> set[str]:
    r"""The ways a value is spelled inside other text: JSON strings (ASCII-escaped or not),
    URLs (percent-encoded, form-encoded), Python reprs, libpq and YAML quoting.

    >>> sorted(encoded_forms('p@ss/w:rd"{x}'))
    ['p%40ss%2Fw%3Ard%22%7Bx%7D', 'p%40ss/w%3Ard%22%7Bx%7D', 'p@ss/w:rd"{x}', 'p@ss/w:rd\\"{x}']
    """
    from urllib.parse import quote, quote_plus

    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        repr(secret)[1:-1],
        secret.replace("\\", "\\\\").replace("'", "\\'"),  # a libpq conninfo value
        secret.replace("'", "''"),  # a single-quoted YAML or SQL string
    }
