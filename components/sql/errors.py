"""What a MySQL/MariaDB or PostgreSQL failure is about: one category table per database.

The drivers, `osiris connections doctor` and discovery all sort failures here, so a code
means the same thing wherever it surfaces; each keeps its own fallback for what the tables
do not know (a driver says `sql`, a connection check `config`) and its own hints. No driver
is imported: the doctor and discovery load this on their fast paths.

>>> mysql_category(1045), mysql_category(2013, "Lost connection (timed out)")
('auth', 'timeout')
>>> postgres_category("57014", "canceling statement due to statement timeout")
'timeout'
>>> connect_category(mysql_category(1062))  # a duplicate key is data, never a connection's
'config'
"""

from __future__ import annotations

import re
from typing import Literal

#: What a connection check (doctor, discovery) reports a failure as.
ConnectCategory = Literal["auth", "network", "timeout", "permission", "config"]
#: What a database failure is about: a driver also meets bad values and bad statements.
Category = Literal[ConnectCategory, "data", "sql"]

#: A driver's hint for each category it can name, where the two databases agree.
DRIVER_HINTS: dict[str, str] = {
    "auth": "check the user and password of the connection (osiris connections doctor)",
    "network": "is the server up and reachable from here? (osiris connections doctor)",
    "timeout": "raise fetch_timeout_s, or make the query cheaper (filter, index)",
}

# -- MySQL and MariaDB: error numbers ----------------------------------------------------------

# Server errors are 1000-1999 and 3000 up; client (connector) errors 2000-2999.
MYSQL_CATEGORIES: dict[int, Category] = {
    # access denied for user (1698: by the unix_socket plugin); the client cannot speak the
    # server's authentication protocol (1251), or load its plugin (2059)
    **dict.fromkeys((1045, 1251, 1698, 2059), "auth"),
    # access denied to a database (1044), table (1142), column (1143), privilege (1227),
    # routine (1370); host not allowed to connect (1130); account resource limit (1226)
    **dict.fromkeys((1044, 1130, 1142, 1143, 1226, 1227, 1370), "permission"),
    # unknown database (1049); LOAD DATA LOCAL disabled (1148, 3948)
    **dict.fromkeys((1049, 1148, 3948), "config"),
    # too many connections (1040), server shutting down (1053), connection killed (1927),
    # cannot connect (2002, 2003), unknown host (2005), gone away / lost (2006, 2013, 2055)
    **dict.fromkeys((1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055), "network"),
    # lock wait (1205), MariaDB max_statement_time (1969), MySQL max_execution_time (3024)
    **dict.fromkeys((1205, 1969, 3024), "timeout"),
    # NOT NULL, duplicate key, wrong counts or values, truncation, foreign keys, CHECK
    **dict.fromkeys(
        (1048, 1062, 1261, 1262, 1263, 1264, 1265, 1292, 1366, 1406, 1451, 1452, 3819, 4025),
        "data",
    ),
}
#: Worth another try: the link failed, a lock wait ran out, a deadlock (1213) chose us.
MYSQL_RETRYABLE = frozenset(
    {code for code, category in MYSQL_CATEGORIES.items() if category == "network"} | {1205, 1213}
)


def mysql_category(code: int, message: str = "") -> Category | None:
    """The category of MySQL/MariaDB error `code`; None for a server error not in the table.

    A client error the table does not name is about the link (network). Given the error's
    `message`, a connect or read the client gave up on (2003/2013 "... (timed out)") is a
    timeout.

    >>> mysql_category(1142), mysql_category(2026), mysql_category(1064)
    ('permission', 'network', None)
    """
    if code in (2003, 2013) and "timed out" in message:
        return "timeout"
    if code in MYSQL_CATEGORIES:
        return MYSQL_CATEGORIES[code]
    return "network" if 2000 <= code < 3000 else None


def mysql_retryable(code: int) -> bool:
    """True when MySQL error `code` may pass on a second try."""
    return code in MYSQL_RETRYABLE


# -- PostgreSQL: SQLSTATEs, and libpq's words where there is none --------------------------------

_PG_STATES: dict[str, Category] = {"57014": "timeout", "42501": "permission"}
_PG_CLASSES: dict[str, Category] = {
    "28": "auth",  # invalid authorization specification
    "08": "network",  # connection exception
    "53": "network",  # insufficient resources (too many connections)
    "57": "network",  # operator intervention (shutdown), but 57014 (a cancel) above
    "3D": "config",  # invalid catalog (database) name
    "3F": "config",  # invalid schema name
    "22": "data",
    "23": "data",  # integrity constraint violation
}
#: Deadlock and serialization failure: the transaction may pass when run again.
_PG_RETRYABLE = ("40P01", "40001")
_PG_BAD_OPTION = re.compile(r"invalid (connection option|\w+ value|port number)")
_PG_PERMISSION = ("permission denied", "connect privilege", "pg_hba.conf")
_PG_AUTH = ("password", "authentication", "role ")


def postgres_category(sqlstate: str | None, message: str) -> Category | None:
    """The category of a PostgreSQL failure; None for a SQLSTATE the table does not know.

    A failure to connect carries no SQLSTATE: libpq's message says what happened, and
    one it does not explain is about the link (network).

    >>> postgres_category("23505", "duplicate key value"), postgres_category("42P01", "")
    ('data', None)
    >>> postgres_category(None, 'FATAL:  role "etl" does not exist')
    'auth'
    """
    if sqlstate:
        return _PG_STATES.get(sqlstate) or _PG_CLASSES.get(sqlstate[:2])
    lowered = message.lower()
    if "timeout expired" in lowered:
        return "timeout"
    if _PG_BAD_OPTION.search(lowered):
        return "config"
    if any(marker in lowered for marker in _PG_PERMISSION):
        return "permission"
    if any(marker in lowered for marker in _PG_AUTH):
        return "auth"  # before "does not exist": an unknown role is a login failure
    if "does not exist" in lowered:
        return "config"
    return "network"


def postgres_retryable(sqlstate: str | None, category: str) -> bool:
    """True when a PostgreSQL failure may pass on a second try: a lost or refused link, a
    connect that timed out (a statement that did would time out again), a deadlock."""
    if sqlstate in _PG_RETRYABLE or category == "network":
        return True
    return category == "timeout" and not sqlstate


# -- connection checks --------------------------------------------------------------------------


def connect_category(category: Category | None) -> ConnectCategory:
    """`category` as a connection check reports it: a data or SQL failure, or one no table
    names, says the connection's settings are off (config)."""
    if category is None or category == "data" or category == "sql":
        return "config"
    return category
