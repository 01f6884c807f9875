"""The SQLite backend: the connection tuned for planning (`connection`), the readers of a plan's
temp tables (`readers`), the run writer (`audit`), the `Backend` they make (`backend`), and the
SQL functions every connection gets (`functions`)."""
