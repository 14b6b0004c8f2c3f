"""The one list of compat cases Osiris does not meet yet, each with what is missing.

Each entry is an xfail(strict=True): when the feature lands the test passes, the run
fails, and the entry is deleted here. Empty: every corpus file and example gets the
verdict docs/compatibility.md says it should.
"""

from __future__ import annotations

#: corpus file stem or example pipeline stem -> what it waits for
PENDING: dict[str, str] = {}
