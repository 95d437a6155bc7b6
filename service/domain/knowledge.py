"""The knowledge base: indexed repositories, their chunks with citations, and what search returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


def file_line(path: str) -> str:
    """The first line of every chunk header: the file it is from. Searched and embedded; not part of the key."""
    return f"# file: {path}"


def content_without_path(path: str, header: str, text: str) -> str:
    """A chunk of ``path``'s content without the :func:`file_line` of its header (what remains names the
    enclosing class, signature or section), then the text: what its embedding key hashes, so that a renamed or
    copied file's chunks keep the keys, and so the vectors, they had."""
    first, _, rest = header.partition("\n")
    context = rest if first == file_line(path) else header
    return f"{context}\n{text}" if context else text


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
    ``page``, ``sheet`` or ``table``. ``header`` starts with the :func:`file_line` of ``path``. ``embedding_key``
    keys the chunk's vector: the sha256 hex of :attr:`path_free_content`, so identical content is embedded once
    whatever file, path or commit it is in; the vector is of the :attr:`content` of the first chunk embedded with
    that key (path included: embedding without it ranked worse, see docs/STATUS.md). Chunks written
    before keys left the path out carry the sha256 of their whole content, which still names their vector.
    ``chunk_id`` is unique within the index.
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
    embedding_key: str
    blob_sha: str
    commit: str

    @property
    def content(self) -> str:
        """What is searched, shown and embedded: the header (path included), then the text."""
        return f"{self.header}\n{self.text}"

    @property
    def path_free_content(self) -> str:
        """What the embedding key hashes: :func:`content_without_path` of the chunk."""
        return content_without_path(self.path, self.header, self.text)


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
