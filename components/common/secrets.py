"""Secrets: which names hold one, how a URL carries one, and masking them in text.

One rule decides where a known secret value is masked. A value of `MIN_FREE_TEXT_LENGTH`
characters or more is masked wherever it occurs. A shorter one is masked where the text's
structure says it is a secret — the value of a secret-named key (`password: pw`,
`"token": "pw"`, `pwd=pw`) or a URL's userinfo password (`user:pw@host`) — and, when it
does not read as a word (it holds a digit or a sign: `s3cret`, `pa$$`) and has at least
`MIN_TOKEN_LENGTH` characters, wherever it stands as a whole token. A short value of
letters only is never searched for in free text: a connection password `nobody` must not
turn the word "nobody" of an error message into `***`. Passwords written inside URLs and
`password=` pairs are masked even when no value is known.

>>> mask("nobody listens on port 1 (password=nobody, mysql://etl:nobody@db)", {"nobody"})
'nobody listens on port 1 (password=***, mysql://etl:***@db)'
>>> mask("login failed for 'Hunter2-Long!'", {"Hunter2-Long!"})
"login failed for '***'"
>>> mask("syntax near 's3cret' (not s3crets)", {"s3cret"})
"syntax near '***' (not s3crets)"
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: Fewest characters a known secret needs to be masked wherever it occurs in free text;
#: shorter values are masked only where the structure says they are secrets.
MIN_FREE_TEXT_LENGTH = 8
#: Fewest characters a shorter secret that is not a word needs to be masked as a token.
MIN_TOKEN_LENGTH = 4

#: The one list of names whose value is a secret: a name is secret when one of its
#: `_`-separated parts reads like one of these (`password`, `db_password`, `api_key`,
#: `service_role_key`), or when it is exactly `key` (a Supabase connection's API key;
#: `primary_key` stays a column list).
SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|pwd|secret|token|api_?key|apikey|access_?key|private_?key|"
    r"(service_?)?role_?key|credentials?|dsn|pg_dsn)($|_)|^key$",
    re.IGNORECASE,
)

_AUTHORITY_END = frozenset("/?#")
#: `password=` in a DSN or a URL's query string (`?password=`, JDBC). A quoted value is
#: looked for over a bounded length, so an unterminated quote costs little however long
#: the text: every pattern here takes time linear in the text.
_PASSWORD_PAIR = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)"
    r"(?P<password>'(?:[^'\\]|\\.){0,1024}'|[^\s'\"&;,)]+)",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\S+")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def is_secret_key(name: str) -> bool:
    """True for a key whose value is a secret (password, token, dsn, key, ...).

    >>> [is_secret_key(n) for n in ("password", "db_password", "key", "primary_key", "host")]
    [True, True, True, False, False]
    """
    return bool(SECRET_NAME.search(name))


def split_credentials(rest: str) -> tuple[str | None, str]:
    """What follows `scheme://`, cut into its `user[:password]` (None: none) and the rest.

    The one reading of a URL's credentials, shared by connection resolution, the
    compiler's check and masking, so all agree on where a password ends: at the *last*
    `@` before the host's `/`, `?` or `#` — a host never holds an `@`, an unencoded
    password may. One pass over the text, whatever its length.

    >>> split_credentials("etl:p@ss@db.internal:5432/dw")
    ('etl:p@ss', 'db.internal:5432/dw')
    >>> split_credentials("db.internal/dw@2024")
    (None, 'db.internal/dw@2024')
    """
    first = rest.find("@")
    if first < 0 or any(char.isspace() for char in rest[:first]):
        return None, rest  # no credentials, or the `@` is past the URL's end
    end = first
    while end < len(rest) and rest[end] not in _AUTHORITY_END and not rest[end].isspace():
        end += 1
    if any(char in _AUTHORITY_END for char in rest[:first].partition(":")[0]):
        return None, rest  # the `@` is past the host (in the path or the query)
    at = rest.rfind("@", 0, end)
    return rest[:at], rest[at + 1 :]


def url_password(rest: str) -> str | None:
    """The password of what follows a URL's `scheme://`, or None.

    >>> url_password("etl:p@ss@db/dw"), url_password("db/dw@2024")
    ('p@ss', None)
    """
    credentials, _ = split_credentials(rest)
    return (credentials or "").partition(":")[2] or None


def encoded_forms(secret: str) -> set[str]:
    r"""The ways a value is spelled inside other text: JSON strings (ASCII-escaped or not),
    URLs (percent-encoded, form-encoded), Python reprs, libpq and YAML quoting.

    >>> sorted(encoded_forms('p@ss/w:rd"{x}'))
    ['p%40ss%2Fw%3Ard%22%7Bx%7D', 'p%40ss/w%3Ard%22%7Bx%7D', 'p@ss/w:rd"{x}', 'p@ss/w:rd\\"{x}']
    """
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


class Masker:
    """Masks known secret values (by the rule above) and URL/`password=` passwords."""

    def __init__(self, secrets: Iterable[str] = (), *, encodings: bool = True) -> None:
        self._encodings = encodings
        self._long: set[str] = set()
        self._short: set[str] = set()
        self._anywhere: re.Pattern[str] | None = None
        self._token: re.Pattern[str] | None = None
        self._userinfo: re.Pattern[str] | None = None
        self._pair: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if isinstance(s, str) and s} - self._long - self._short
        if not fresh:
            return
        for secret in fresh:
            (self._long if len(secret) >= MIN_FREE_TEXT_LENGTH else self._short).add(secret)
        self._anywhere = _alternation(self._forms(self._long))
        tokens = self._forms({s for s in self._short if _searchable(s)})
        if tokens:
            forms = "|".join(re.escape(v) for v in sorted(tokens, key=len, reverse=True))
            self._token = re.compile(f"(?<![\\w])(?:{forms})(?![\\w])")
        short = self._forms(self._short)
        if short:
            forms = "|".join(re.escape(v) for v in sorted(short, key=len, reverse=True))
            self._userinfo = re.compile(f"(?<=:)(?:{forms})(?=@)")
            # a word at its start (linear: no retry inside a word), an optional closing
            # quote, `:` or `=`, an optional opening quote, then the value up to its end
            self._pair = re.compile(
                r"(?<![\w])(?P<name>\w{1,128})(?P<sep>[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?)"
                f"(?P<value>{forms})(?![^\\s\"',;&)}}\\]])"
            )

    def _forms(self, secrets: set[str]) -> set[str]:
        if not self._encodings:
            return set(secrets)
        return {form for secret in secrets for form in encoded_forms(secret)}

    def holds(self, value: object) -> bool:
        """True when `value` is one of the known secret values, whatever its length."""
        return isinstance(value, str) and (value in self._long or value in self._short)

    def known(self, text: str) -> str:
        """`text` with the known secret values masked (and nothing else)."""
        if self._anywhere is not None:
            text = self._anywhere.sub(MASK, text)
        if self._token is not None:
            text = self._token.sub(MASK, text)
        if self._userinfo is not None and self._pair is not None:
            text = self._userinfo.sub(MASK, text)
            text = self._pair.sub(_mask_pair, text)
        return text

    def text(self, text: str) -> str:
        """`text` with known values, URL userinfo passwords and `password=` pairs masked."""
        text = mask_url_passwords(self.known(text))
        return _PASSWORD_PAIR.sub(lambda m: m.group("head") + MASK, text)


def _searchable(secret: str) -> bool:
    """Whether a short secret may be searched for as a token: long enough, and not a word
    (it holds something besides letters)."""
    return len(secret) >= MIN_TOKEN_LENGTH and not secret.isalpha()


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret masked: see the module's rule."""
    return Masker(secrets).text(text)


def mask_known(text: str, secrets: Iterable[str]) -> str:
    """`text` with the known secret values (as given, no other spelling) masked."""
    return Masker(secrets, encodings=False).known(text)


def mask_url_passwords(value: str) -> str:
    """Every `scheme://user:password@host` in `value` with its password as `***`.

    Credentials are read as connection resolution reads them (`split_credentials`): a
    password holding an unencoded `@` is masked whole.

    >>> mask_url_passwords("dial postgresql://etl:p@ss@db/dw and mysql://u:pw@h")
    'dial postgresql://etl:***@db/dw and mysql://u:***@h'
    """
    if "://" not in value:
        return value
    return _TOKEN.sub(_mask_token, value)


def _mask_token(match: re.Match[str]) -> str:
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


def _mask_pair(match: re.Match[str]) -> str:
    if not is_secret_key(match.group("name")):
        return match.group()
    return match.group("name") + match.group("sep") + MASK


def _alternation(values: set[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
