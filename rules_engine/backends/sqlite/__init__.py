"""The SQLite backend: the run writer (`audit`)."""
