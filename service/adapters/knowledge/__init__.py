"""ChunkIndex adapters: in memory, SQLite (the embedded default) and PostgreSQL with pgvector."""
