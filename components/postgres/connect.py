"""The one PostgreSQL / Supabase connection builder: the drivers, discovery and the doctor
all connect with `connect_params`, so they agree on the DSN, the port, TLS and timeouts.

- fields: `components.sql.params.postgres_params` (DSN, Supabase url/project_id, explicit
  host/port/user/password/database/sslmode; a port may be text: `"5432"`).
- `host` defaults to localhost; a connect timeout (libpq's minimum is 2 s) and an
  application name always, unless the connection's own settings (a DSN's) say otherwise.
- `base`: what a caller adds under the connection's fields (the drivers' defaults and
  extra libpq keywords).

>>> params = connect_params({"port": "6543", "user": "etl", "sslmode": "require"}, 0.5)
>>> params["host"], params["port"], params["sslmode"], params["connect_timeout"]
('localhost', '6543', 'require', '2')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from components.sql.params import postgres_params


def connect_params(
    fields: Mapping[str, Any],
    timeout_s: float,
    *,
    application_name: str = "osiris",
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """libpq keyword arguments (for `psycopg.connect`) from a connection's fields."""
    params = {
        "host": "localhost",
        "connect_timeout": str(max(2, math.ceil(timeout_s))),
        "application_name": application_name,
        **(base or {}),
        **postgres_params(fields),
    }
    return {key: value for key, value in params.items() if value is not None}
