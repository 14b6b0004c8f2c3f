"""The PostgreSQL family, Supabase included: `io` (the read-only extract and the COPY-based
writes of the `postgres.*` and `supabase.*` drivers). Connection parameters come from
`components.sql.params.postgres_params`, the one builder the drivers, discovery and the
doctor share; errors map through `components.sql.errors`."""
