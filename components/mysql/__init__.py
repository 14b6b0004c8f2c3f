"""The MySQL / MariaDB family: `connect` (the one connection builder, used by the drivers,
discovery and the doctor) and `io` (the read-only extract and the atomic bulk writes the
`mysql.extractor` and `mysql.writer` drivers run). Errors map through `components.sql.errors`."""
