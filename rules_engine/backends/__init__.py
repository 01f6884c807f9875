"""Store engines: each backend keeps its connection, locking, readers and writer in its folder."""
