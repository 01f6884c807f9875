"""The SQLite backend: the connection tuned for planning (`connection`), the readers of a plan's
temp tables (`readers`), the run writer (`audit`), and the `Backend` they make (`backend`)."""
