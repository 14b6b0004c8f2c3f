"""The one list of compat tests that wait for a branch of issue 12 to land on main.

Each entry is an xfail(strict=True): when the feature lands the test passes, the run
fails, and the entry is deleted here. The lead empties this file after the merges.
"""

from __future__ import annotations

CORE = "lands with i12-core: needs carries data (df_<id>, implicit upstream, no-input transforms)"
CORE_SQL = "lands with i12-core: needs carries data, then the SQL checks reach the transform"
ENGINE_SQL = "lands with i12-core: needs carries data and SQL confirmed by the engine"
COMPONENTS = "lands with i12-core + i12-components: needs carries data and the 0.5.7 keys"
NEW_COMPONENTS = "lands with i12-core + i12-components: graphql.extractor / posthog.extractor"
CONNECTIONS = (
    "lands with i12-core + i12-connections-cli: needs carries data, connections files with "
    "families Osiris does not know, inline non-secret connection fields"
)
PATHS = "lands with i12-core + i12-components: absolute CSV paths under a declared base_dir"
NAMES = "lands with i12-core + i12-components: pipeline names and step ids of 0.5.7"

#: corpus file stem or example pipeline stem -> the branch whose feature it waits for
PENDING: dict[str, str] = {
    # corpus: needs carries data
    "description_metadata": CORE,
    "generate_after_extract_empty_needs": CORE,
    "generate_range": CORE,
    "generate_series": CORE,
    "implicit_previous_step": CORE,
    "implicit_previous_writer": CORE,
    "mode_extract": CORE,
    "mysql_extractor_table": CORE,
    "mysql_extractor_table_columns_limit": CORE,
    "mysql_writer_057_keys": CORE,
    "mysql_writer_older_keys": CORE,
    "mysql_writer_pool_keys": CORE,
    "needs_and_inputs_together": CORE,
    "needs_df_hyphenated": CORE,
    "needs_df_underscore": CORE,
    "needs_id_collision_suffix": CORE,
    "needs_quoted_hyphen_id": CORE,
    "needs_step_id_as_table": CORE,
    "needs_three_upstreams_union": CORE,
    "needs_two_upstreams": CORE,
    "params_in_query": CORE,
    "postgres_writer_needs": CORE,
    "supabase_inline_url": CORE,
    "when_retry_timeout": CORE,
    "writer_replace_without_key": CORE,
    # corpus: the SQL pass skips a step that has no input today
    "generate_reads_file": CORE_SQL,
    "generate_unknown_table": CORE_SQL,
    "generate_writes_table": CORE_SQL,
    "needs_id_collision_plain_name": CORE_SQL,
    "needs_input_df_name": CORE_SQL,
    "needs_table_not_upstream": CORE_SQL,
    "needs_unquoted_hyphen_id": CORE_SQL,
    "sql_transform_syntax": CORE_SQL,
    "sql_double_operator": ENGINE_SQL,
    "sql_transform_unknown_column": ENGINE_SQL,
    # corpus: 0.5.7 component keys
    "csv_compression_bz2": COMPONENTS,
    "csv_compression_gzip_infer": COMPONENTS,
    "csv_extractor_057_keys": COMPONENTS,
    "csv_parse_dates": COMPONENTS,
    "csv_writer_057_keys": COMPONENTS,
    "csv_writer_chunk_size": COMPONENTS,
    "mysql_writer_truncate_before": COMPONENTS,
    "supabase_writer_057_keys": COMPONENTS,
    "supabase_writer_prefer_merge": COMPONENTS,
    "graphql_extractor": NEW_COMPONENTS,
    "posthog_events": NEW_COMPONENTS,
    "posthog_persons": NEW_COMPONENTS,
    "csv_absolute_path_outside": PATHS,
    "csv_absolute_path_under_base_dir": PATHS,
    "csv_path_escape": CORE_SQL,
    "name_with_spaces_capitals": NAMES,
    "needs_leading_digit_id": NAMES,
    "generate_values": NAMES,
    # corpus: connections
    "connection_family_default": CONNECTIONS,
    "connection_omitted_uses_default": CONNECTIONS,
    "inline_host_database_user": CONNECTIONS,
    "inline_override_database": CONNECTIONS,
    # the five kinds of 0.5.7 pipeline, run end to end
    "mysql_duckdb_supabase_append": CORE,
    "mysql_duckdb_supabase_replace": CORE,
    "mysql_to_csv_all_tables": CORE,
    "mysql_to_supabase_all_tables": CORE,
    "mysql_to_supabase": CORE,
}
