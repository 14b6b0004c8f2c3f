"""The one shape of an error a person can act on: what went wrong, and what to do.

Every layer raises its own kind (a driver's `DriverError`, a selector's `SelectionError`,
Spark's `SparkUnavailable`, ...) so that callers catch what they expect; each is a
`HintedError`, so the shells word any of them the same way: the message, then the hint.
A message never quotes a secret.

>>> err = HintedError("no step is called 'lod'", "did you mean 'load'?")
>>> (str(err), err.message, err.hint)
("no step is called 'lod'", "no step is called 'lod'", "did you mean 'load'?")
"""

from __future__ import annotations


class HintedError(Exception):
    """An error with a `message` (never a secret) and, when one helps, a `hint`."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
