"""The one list of compat cases Osiris does not meet yet, each with what is missing.

Each entry is an xfail(strict=True): when the feature lands the test passes, the run
fails, and the entry is deleted here.
"""

from __future__ import annotations

ENGINE_SQL = (
    "not built yet (issue 12, deliverable 7): transform SQL bound in DuckDB at compile time, "
    "so `> > 10` and unknown columns of needs-upstreams are diagnostics"
)
PATHS = (
    "an absolute path under another declared filesystem connection's base_dir is refused "
    "(SEC504, hint names the connection) unless the step sets that connection"
)
NAMES = "a step id with a leading digit is still OML108 (0.5.7 accepts it as df__<id>)"

#: corpus file stem or example pipeline stem -> what it waits for
PENDING: dict[str, str] = {
    "sql_double_operator": ENGINE_SQL,
    "sql_transform_unknown_column": ENGINE_SQL,
    "csv_absolute_path_under_base_dir": PATHS,
    "needs_leading_digit_id": NAMES,
}
