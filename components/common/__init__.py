"""One home for what every layer needs the same way: secrets, strict YAML, atomic writes,
SQL quoting. It sits at the bottom (components): it imports nothing of ours, and the
compiler and the runtime may both import it."""
