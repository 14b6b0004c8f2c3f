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
#: `password=` in a DSN or a URL's query string (`?password=`, JDBC). A quoted value is
#: looked for over a bounded length, so an unterminated quote costs little however long
#: the text: every pattern here takes time linear in the text.
_DSN_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<password>'(?:[^'\\]|\\.){0,1024}'|[^\s'\"&;]+)",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\S+")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


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
        value = mask_url_passwords(value)
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


def mask_url_passwords(value: str) -> str:
    """Every `scheme://user:password@host` in `value` with its password as `***`.

    Credentials are read as connection resolution reads them (components/db_params.py
    `split_credentials`): a password holding an unencoded `@` is masked whole.

    >>> mask_url_passwords("dial postgresql://etl:p@ss@db/dw and mysql://u:pw@h")
    'dial postgresql://etl:***@db/dw and mysql://u:***@h'
    """
    if "://" not in value:
        return value
    return _TOKEN.sub(_mask_token, value)


def _mask_token(match: re.Match[str]) -> str:
    from components.db_params import split_credentials

    token = match.group()
    if "://" not in token:
        return token
    parts = token.split("://")
    for index in range(1, len(parts)):
        if not parts[index - 1] or parts[index - 1][-1] not in _SCHEME_CHARS:
            continue
        credentials, rest = split_credentials(parts[index])
        if credentials is None:
            continue
        user, colon, password = credentials.partition(":")
        if colon and password:
            parts[index] = f"{user}:{MASK}@{rest}"
    return "://".join(parts)


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
