"""PostHog discovery: its fixed data types as tables, the key checked with one HogQL query."""

from __future__ import annotations

from compiler.catalog import Catalog, Column
from runtime.discovery import common
from runtime.discovery.duckdb import _duckdb_normalized


class _PostHogReader(common.BaseReader):
    """PostHog's data types as tables (events, persons, sessions, person_distinct_ids).

    Their fixed columns are known up front, as 0.5.7 lists them; the fingerprint query
    is one `SELECT 1` through the HogQL API, so the key, project and host are checked.
    """

    def __init__(
        self, connection: common.SourceConnection, options: common.DiscoveryOptions
    ) -> None:
        self.connection, self.options = connection, options
        self.checked = False

    def _check(self) -> None:
        from components.posthog_extractor.driver import check_access

        if not self.checked:
            check_access(self.connection.fields, self.options.timeout_s)
            self.checked = True

    def fingerprint(self) -> str:
        from components.posthog_extractor.driver import RESOURCES

        self._check()
        rows = [("", name, repr(columns)) for name, columns in RESOURCES.items()]
        return common._digest(rows, self.options)

    def catalog(self) -> Catalog:
        from components.posthog_extractor.driver import RESOURCES

        self._check()
        drafts: common._Drafts = {}
        for name, columns in RESOURCES.items():
            if not self.options.wants("", name):
                continue
            draft = common._Draft("", name, "table")
            draft.columns = [
                Column(name=c, type=t, normalized_type=_duckdb_normalized(t)) for c, t in columns
            ]
            drafts["", name] = draft
        return common._catalog(self.connection, drafts, None)

    @staticmethod
    def failure_of(err: Exception) -> common.Failure | None:
        from components.protocol import DriverError

        if isinstance(err, DriverError):
            category = err.category if err.category in common._HINTS else "config"
            return (category, str(err), err.hint)
        return None
