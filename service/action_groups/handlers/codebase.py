"""The ``codebase`` action group: search an indexed repository, read its files, find symbols, map it.

Everything is read at the indexed commit and only from files in the index, so an agent sees exactly what search
cites; a path with ``..`` or an absolute path is refused with 400.
"""

from __future__ import annotations

import anyio.to_thread
from pydantic import BaseModel, Field

from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.domain.knowledge import ChunkFilters, IndexedChunk
from service.errors import InvalidInput
from service.knowledge_base.library import MODES, KnowledgeBase, RepositoryStatus
from service.knowledge_base.navigation import Navigator

NAME_FIELD = Field(
    min_length=1,
    max_length=100,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    description="Name of the indexed repository (see listRepositories).",
)


class RepositoryOut(BaseModel):
    name: str = Field(description="Repository name.")
    commit: str | None = Field(description="Commit that is indexed.")
    files: int = Field(description="Files in the index.")
    chunks: int = Field(description="Chunks in the index.")
    dense_coverage: float = Field(alias="denseCoverage", description="Share of chunks with an embedding, 0 to 1.")

    @classmethod
    def of(cls, status: RepositoryStatus) -> RepositoryOut:
        return cls(
            name=status.repository.name,
            commit=status.repository.commit,
            files=status.files,
            chunks=status.chunks,
            denseCoverage=round(status.dense_coverage, 4),
        )


class RepositoryList(BaseModel):
    repositories: list[RepositoryOut] = Field(description="Indexed repositories, by name.")


class SearchParams(BaseModel):
    repo: str = NAME_FIELD
    query: str = Field(min_length=1, max_length=2000, description="Words, identifiers or a question.")
    k: int = Field(default=8, ge=1, le=50, description="How many results, 1 to 50 (default 8).")
    path_glob: str | None = Field(
        default=None, alias="pathGlob", max_length=500, description="Only paths matching this glob, e.g. src/*.py."
    )
    language: str | None = Field(default=None, max_length=50, description="Only this language, e.g. python.")
    kind: str | None = Field(
        default=None, max_length=50, description="Only this kind: function, class, code, text, section, page."
    )
    mode: str = Field(default="hybrid", description="hybrid (default), lexical or dense.")


class Hit(BaseModel):
    citation: str = Field(description="path:start-end@commit, to quote in answers.")
    path: str = Field(description="File path in the repository.")
    start_line: int = Field(alias="startLine", description="First line, 1-based.")
    end_line: int = Field(alias="endLine", description="Last line, inclusive.")
    symbol: str = Field(description="Enclosing definition, e.g. Class.method ('' when none).")
    kind: str = Field(description="function, class, code, text, section, page...")
    score: float = Field(description="Relevance; higher is better.")
    text: str = Field(description="The chunk's text.")

    @classmethod
    def of(cls, chunk: IndexedChunk, score: float, commit: str) -> Hit:
        return cls(
            citation=f"{chunk.path}:{chunk.start_line}-{chunk.end_line}@{commit[:12]}",
            path=chunk.path,
            startLine=chunk.start_line,
            endLine=chunk.end_line,
            symbol=chunk.symbol,
            kind=chunk.kind,
            score=round(score, 6),
            text=chunk.text,
        )


class SearchOut(BaseModel):
    commit: str = Field(description="Indexed commit the results come from.")
    mode: str = Field(description="Retrieval that ran (hybrid falls back to lexical until embeddings exist).")
    note: str | None = Field(default=None, description="Why the mode fell back, or how complete the dense index is.")
    results: list[Hit] = Field(description="Best first.")


class ReadParams(BaseModel):
    repo: str = NAME_FIELD
    path: str = Field(min_length=1, max_length=1000, description="File path relative to the repository root.")
    start_line: int = Field(default=1, ge=1, alias="startLine", description="First line to read (default 1).")
    end_line: int | None = Field(
        default=None, ge=1, alias="endLine", description="Last line to read (default: the end; at most 500 lines)."
    )


class FileOut(BaseModel):
    path: str = Field(description="File path.")
    commit: str = Field(description="Commit the text is from.")
    start_line: int = Field(alias="startLine", description="First line returned.")
    end_line: int = Field(alias="endLine", description="Last line returned.")
    total_lines: int = Field(alias="totalLines", description="Lines in the whole file.")
    truncated: bool = Field(description="True when the range asked for was cut; read on from endLine + 1.")
    text: str = Field(description="The lines, joined with newlines.")


class ListParams(BaseModel):
    repo: str = NAME_FIELD
    prefix: str = Field(default="", max_length=1000, description="Directory or path start, e.g. src/ (default all).")
    limit: int = Field(default=200, ge=1, le=1000, description="At most this many files (default 200).")


class FileEntry(BaseModel):
    path: str = Field(description="File path.")
    language: str = Field(description="Detected language or document format.")
    chunks: int = Field(description="Chunks the file gave.")


class FileList(BaseModel):
    files: list[FileEntry] = Field(description="Indexed files, by path.")


class SymbolParams(BaseModel):
    repo: str = NAME_FIELD
    name: str = Field(min_length=1, max_length=200, description="Function, class or method, e.g. route or Cls.route.")
    limit: int = Field(default=20, ge=1, le=100, description="At most this many definitions and references.")


class ReferenceOut(BaseModel):
    path: str = Field(description="File that uses the symbol.")
    line: int = Field(description="Line of the use.")
    text: str = Field(description="The line.")
    symbol: str = Field(description="Definition the use is in ('' at top level).")


class SymbolOut(BaseModel):
    definitions: list[Hit] = Field(description="Where the symbol is defined.")
    references: list[ReferenceOut] = Field(description="Lines elsewhere that use its name.")


class MapParams(BaseModel):
    repo: str = NAME_FIELD
    limit: int = Field(default=20, ge=1, le=100, description="How many files (default 20).")


class MapSymbol(BaseModel):
    name: str = Field(description="Defined name.")
    kind: str = Field(description="function or class.")
    line: int = Field(description="Line of the definition.")
    references: int = Field(description="Uses of the name in other files.")


class MapFile(BaseModel):
    path: str = Field(description="File path.")
    score: float = Field(description="Centrality: weighted count of other files using its definitions.")
    symbols: list[MapSymbol] = Field(description="Its most referenced definitions.")


class RepoMapOut(BaseModel):
    commit: str = Field(description="Indexed commit.")
    files: list[MapFile] = Field(description="The most central files first.")


class CodebaseActions:
    """Handlers of the ``codebase`` group over one :class:`KnowledgeBase`."""

    def __init__(self, knowledge: KnowledgeBase) -> None:
        self._knowledge = knowledge
        self._navigator = Navigator(knowledge)

    async def repositories(self, ctx: CallContext, params: NoParams, body: None) -> RepositoryList:
        statuses = await anyio.to_thread.run_sync(self._knowledge.statuses)
        return RepositoryList(repositories=[RepositoryOut.of(s) for s in statuses])

    async def search(self, ctx: CallContext, params: SearchParams, body: None) -> SearchOut:
        if params.mode not in MODES:
            raise InvalidInput(f"unknown mode {params.mode!r}", hint="hybrid, lexical or dense")
        filters = ChunkFilters(path_glob=params.path_glob, language=params.language, kind=params.kind)
        results = await anyio.to_thread.run_sync(
            lambda: self._knowledge.search(
                params.query, repository=params.repo, k=params.k, filters=filters, mode=params.mode
            )
        )
        commit = results.repository.commit or ""
        return SearchOut(
            commit=commit,
            mode=results.mode,
            note=results.note,
            results=[Hit.of(h.chunk, h.score, commit) for h in results.hits],
        )

    async def read(self, ctx: CallContext, params: ReadParams, body: None) -> FileOut:
        found = await anyio.to_thread.run_sync(
            lambda: self._navigator.read_file(params.repo, params.path, params.start_line, params.end_line)
        )
        return FileOut(
            path=found.path,
            commit=found.commit,
            startLine=found.start_line,
            endLine=found.end_line,
            totalLines=found.total_lines,
            truncated=found.truncated,
            text=found.text,
        )

    async def files(self, ctx: CallContext, params: ListParams, body: None) -> FileList:
        found = await anyio.to_thread.run_sync(
            lambda: self._navigator.list_files(params.repo, params.prefix, params.limit)
        )
        return FileList(files=[FileEntry(path=f.path, language=f.language, chunks=f.chunk_count) for f in found])

    async def symbol(self, ctx: CallContext, params: SymbolParams, body: None) -> SymbolOut:
        commit = (await anyio.to_thread.run_sync(self._knowledge.repository, params.repo)).commit or ""
        found = await anyio.to_thread.run_sync(
            lambda: self._navigator.find_symbol(params.repo, params.name, params.limit)
        )
        return SymbolOut(
            definitions=[Hit.of(c, 1.0, commit) for c in found.definitions],
            references=[ReferenceOut(path=r.path, line=r.line, text=r.text, symbol=r.symbol) for r in found.references],
        )

    async def repo_map(self, ctx: CallContext, params: MapParams, body: None) -> RepoMapOut:
        commit = (await anyio.to_thread.run_sync(self._knowledge.repository, params.repo)).commit or ""
        ranked = await anyio.to_thread.run_sync(lambda: self._navigator.repo_map(params.repo, params.limit))
        return RepoMapOut(
            commit=commit,
            files=[
                MapFile(
                    path=f.path,
                    score=f.score,
                    symbols=[
                        MapSymbol(name=s.name, kind=s.kind, line=s.line, references=s.references) for s in f.symbols
                    ],
                )
                for f in ranked
            ],
        )


def codebase_group(actions: CodebaseActions) -> ActionGroup:
    """The ``codebase`` action group bound to ``actions``."""
    return ActionGroup(
        name="codebase",
        description="Search and read indexed git repositories: code search, files, symbols and a repository map.",
        prefix="/v1/codebase",
        operations=(
            Operation(
                operation_id="listRepositories",
                method="GET",
                path="/repositories",
                summary="List indexed repositories",
                description="Lists the indexed repositories with their commit, size and embedding coverage.",
                params=NoParams,
                response=RepositoryList,
                handler=actions.repositories,
            ),
            Operation(
                operation_id="searchCode",
                method="GET",
                path="/repositories/{repo}/search",
                summary="Search code",
                description=(
                    "Finds the code and document chunks most relevant to a query (hybrid lexical and semantic "
                    "search); every result cites path, line range, symbol and commit."
                ),
                params=SearchParams,
                response=SearchOut,
                handler=actions.search,
            ),
            Operation(
                operation_id="readFile",
                method="GET",
                path="/repositories/{repo}/file",
                summary="Read a file",
                description=(
                    "Returns the lines of an indexed file at the indexed commit, optionally a line range "
                    "(at most 500 lines per call). Paths are relative to the repository root."
                ),
                params=ReadParams,
                response=FileOut,
                handler=actions.read,
            ),
            Operation(
                operation_id="listFiles",
                method="GET",
                path="/repositories/{repo}/files",
                summary="List files",
                description="Lists the indexed files under a directory, with their language and chunk count.",
                params=ListParams,
                response=FileList,
                handler=actions.files,
            ),
            Operation(
                operation_id="findSymbol",
                method="GET",
                path="/repositories/{repo}/symbols/{name}",
                summary="Find a symbol",
                description=("Finds where a function, class or method is defined and the lines elsewhere that use it."),
                params=SymbolParams,
                response=SymbolOut,
                handler=actions.symbol,
            ),
            Operation(
                operation_id="repoMap",
                method="GET",
                path="/repositories/{repo}/map",
                summary="Map the repository",
                description=(
                    "Shows the most central files of the repository (ranked by how much other code uses what "
                    "they define) with their most used definitions: a starting point for exploring it."
                ),
                params=MapParams,
                response=RepoMapOut,
                handler=actions.repo_map,
            ),
        ),
    )
