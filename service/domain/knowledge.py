"""The knowledge base: indexed repositories, their chunks with citations, and what search returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Repository:
    """A git repository known to the knowledge base by ``name``.

    ``source`` is what the user gave (a local path or a clone URL); ``path`` is the local git directory read from
    (the user's own checkout, never written to, or a clone under the data directory). ``ref`` is the branch, tag
    or commit asked for; ``commit`` the full sha that is indexed (None before the first index completes).
    """

    name: str
    source: str
    path: str
    ref: str | None
    commit: str | None
    indexed_at: datetime | None


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """One retrievable piece of a file at one commit.

    Lines are 1-based and inclusive. ``kind`` is ``class``, ``function``, ``code``, ``text``, ``section``,
    ``page``, ``sheet`` or ``table``. ``content_hash`` (sha256 hex of :attr:`content`) keys the embedding, so
    identical content is embedded once whatever file or commit it is in. ``chunk_id`` is unique within the index.
    """

    chunk_id: str
    repository: str
    path: str
    language: str
    kind: str
    symbol: str
    start_line: int
    end_line: int
    header: str
    text: str
    content_hash: str
    blob_sha: str
    commit: str

    @property
    def content(self) -> str:
        """What is embedded and searched: the header, then the text."""
        return f"{self.header}\n{self.text}"


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """A file of the indexed commit: its git blob, detected language and how many chunks it gave."""

    path: str
    blob_sha: str
    language: str
    chunk_count: int


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file left out of the index, with the reason in words (binary, vendored, too large, parse error...)."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChunkFilters:
    """Optional restrictions on a search. ``path_glob`` uses ``fnmatch`` rules on the repository-relative path."""

    path_glob: str | None = None
    language: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    """A chunk and its score from one retriever (higher is better; scales differ between retrievers)."""

    chunk: IndexedChunk
    score: float
