"""Project memory: decisions and lessons the user agreed to keep, secrets and personal data cut.

Notes go to `.osiris/memory/memories.jsonl` (folder 0700, file 0600), one JSON line each.
Before a note is stored, every known secret value (the resolved connection fields),
credential-looking text (URL passwords, `password=…`, API keys, bearer tokens) and
personal data (e-mail addresses, phone numbers, card numbers, IBANs, IP addresses) is
replaced by a `[redacted:<kind>]` marker.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

#: (kind, pattern) in the order they are applied: credentials before personal data.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # user:password@ in a URL (its marker has no colon, so it never reads as user:password)
    ("url-credentials", re.compile(r"(?<=://)[^/\s:@]+:[^@\s/]+(?=@)")),
    (
        "secret",
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)"
            r"(\s*[:=]\s*|\s+is\s+)['\"]?[^\s'\",;]+"
        ),
    ),
    ("secret", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{8,}=*")),
    ("secret", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("secret", re.compile(r"\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_])?[A-Za-z0-9]{16,}\b")),
    ("secret", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}(?:\s?[A-Z0-9]{1,3})?\b")),
    ("card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("phone", re.compile(r"(?<![\w.])\+?\d[\d ().-]{7,}\d(?![\w.])")),
    ("ip", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
)


def redact_note(text: str, mask_secrets: Callable[[str], str]) -> tuple[str, dict[str, int]]:
    """The note with secrets and personal data replaced, and how many of each kind.

    >>> redact_note("mail jane@example.com, call +44 20 7946 0958", lambda s: s)
    ('mail [redacted:email], call [redacted:phone]', {'email': 1, 'phone': 1})
    >>> redact_note("the dsn mysql://app:hunter2@db/x failed", lambda s: s)[0]
    'the dsn mysql://[redacted]@db/x failed'
    """
    counts: dict[str, int] = {}
    masked = mask_secrets(text)
    if masked != text:
        counts["secret"] = masked.count("***")
        text = masked.replace("***", "[redacted:secret]")
    for kind, pattern in PATTERNS:
        if kind == "url-credentials":
            text, n = pattern.subn("[redacted]", text)
            kind = "secret"
        else:
            text, n = pattern.subn(f"[redacted:{kind}]", text)
        if n:
            counts[kind] = counts.get(kind, 0) + n
    return text, counts


def store_note(memory_dir: Path, *, kind: str, text: str, tags: list[str]) -> tuple[str, Path]:
    """Append one (already redacted) note; returns its id and the file."""
    memory_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(memory_dir, 0o700)
    path = memory_dir / "memories.jsonl"
    note_id = "mem_" + secrets.token_hex(6)
    record = {
        "id": note_id,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": kind,
        "text": text,
        "tags": tags,
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return note_id, path
