"""The tables of the embedded knowledge index (its own SQLite file; ``PRAGMA user_version`` is the schema version).

A later schema adds statements under a new version number (:data:`UPGRADES`); the index is a cache of the
repositories, so a version that cannot be migrated in place may also ask the user to index again.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS repositories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        ref TEXT,
        commit_sha TEXT,
        indexed_at TEXT,
        generation INTEGER NOT NULL DEFAULT 0,
        chunk_count INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS files (
        repo_id INTEGER NOT NULL REFERENCES repositories (id),
        path TEXT NOT NULL,
        blob_sha TEXT NOT NULL,
        language TEXT NOT NULL,
        chunk_count INTEGER NOT NULL,
        PRIMARY KEY (repo_id, path)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS skipped (
        repo_id INTEGER NOT NULL REFERENCES repositories (id),
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (repo_id, path)
    ) WITHOUT ROWID""",
    # id is also the rowid of the chunk's row in the repository's FTS5 table.
    """CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY,
        chunk_id TEXT NOT NULL UNIQUE,
        repo_id INTEGER NOT NULL REFERENCES repositories (id),
        path TEXT NOT NULL,
        language TEXT NOT NULL,
        kind TEXT NOT NULL,
        symbol TEXT NOT NULL,
        symbol_tail TEXT NOT NULL,
        start_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        header TEXT NOT NULL,
        text TEXT NOT NULL,
        embedding_key TEXT NOT NULL,
        blob_sha TEXT NOT NULL,
        commit_sha TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks (repo_id, path, start_line)",
    "CREATE INDEX IF NOT EXISTS chunks_by_embedding ON chunks (repo_id, embedding_key)",
    "CREATE INDEX IF NOT EXISTS chunks_by_symbol ON chunks (repo_id, symbol_tail)",
    # last_seq is the newest embedding of the model, so in-memory matrices know what to load.
    """CREATE TABLE IF NOT EXISTS models (
        model_id TEXT PRIMARY KEY,
        dimensions INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0
    )""",
    # seq only grows (no AUTOINCREMENT needed: rows are never deleted), so "rows after seq N" is what is new.
    """CREATE TABLE IF NOT EXISTS embeddings (
        seq INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL,
        embedding_key TEXT NOT NULL,
        vector BLOB NOT NULL,
        UNIQUE (model_id, embedding_key)
    )""",
    "CREATE INDEX IF NOT EXISTS embeddings_by_model ON embeddings (model_id, seq)",
)

# Statements that bring a file at version N to N + 1, in order; a new file gets SCHEMA at SCHEMA_VERSION at once.
UPGRADES: dict[int, tuple[str, ...]] = {
    # 1 → 2: vectors are keyed by the chunk's content without its path (the embedding key). The keys already
    # stored hash the whole content (path included) and keep naming their vectors, which are of that content as
    # new ones are: nothing is embedded again. Chunks written from now on carry path-free keys, so a file indexed
    # before is embedded once more the first time it is renamed or copied, and never after.
    1: (
        "ALTER TABLE chunks RENAME COLUMN content_hash TO embedding_key",
        "ALTER TABLE embeddings RENAME COLUMN content_hash TO embedding_key",
        "DROP INDEX IF EXISTS chunks_by_content",
        "CREATE INDEX IF NOT EXISTS chunks_by_embedding ON chunks (repo_id, embedding_key)",
    ),
}


def fts_table(repo_id: int) -> str:
    """The FTS5 table of one repository: its chunks' search terms, space-separated, rowid = ``chunks.id``."""
    return f"terms_{int(repo_id)}"


def fts_statements(repo_id: int) -> tuple[str, str]:
    """Create the repository's FTS5 table and its ``fts5vocab`` companion (document frequency per term).

    Diacritics are kept: the terms are already what we search for, and the vocabulary must list them as given.
    """
    table = fts_table(repo_id)
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_vocab USING fts5vocab({table}, 'row')",
    )
