"""The DuckDB backend: the store file, its connection and locking, and its SQL dialect."""
