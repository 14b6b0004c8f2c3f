"""What the SQL families share: `io` (readers with fallback, query tags for cancel, write
modes), `errors` (a server's error code → a category and a hint), `params` (DSN and URL
parsing, PostgreSQL/Supabase connection parameters, port and host checks)."""
