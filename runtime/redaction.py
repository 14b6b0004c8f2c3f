"""The runtime's redactor: every line Osiris writes about a run passes through it.

It knows the run's resolved secret values and masks them — in event data, metric tags,
error messages from database drivers — plus any password written inside a URL or a
key=value DSN. Which values are masked where is components/common/secrets.py's one rule
(a short value only where the structure says it is a secret); this adds nested data and
JSON lines on top.
"""

from __future__ import annotations

import json
from typing import Any

from components.common.secrets import (
    MASK,
    Masker,
    encoded_forms,
    is_secret_key,
    mask_url_passwords,
)

__all__ = ["MASK", "Redactor", "encoded_forms", "mask_url_passwords"]


class Redactor(Masker):
    """Masks known secret values (and URL/DSN passwords) in text and in nested data."""

    def data(self, value: Any) -> Any:
        """A copy of nested data with every string redacted (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            # a known value under a secret key is masked whatever its length: the key says so
            return {
                self.text(str(k)): MASK if is_secret_key(str(k)) and self.holds(v) else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def json_line(self, record: Any) -> str:
        """One JSONL line, redacted before and after encoding."""
        line = json.dumps(self.data(record), ensure_ascii=False, default=str, sort_keys=False)
        return self.text(line)
