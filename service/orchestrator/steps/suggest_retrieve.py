"""Step ``retrieve`` of the suggest workflow: the code the ticket is about, from the knowledge base.

The query is the ticket's summary and description; files the ticket names by path come first (a ticket that
says ``shop/pricing.py`` means that file), then the search's best chunks. Each lookup is a RETRIEVAL span with
its citations; each citation carries a commit-pinned link (as the scan's tickets do).
"""

from __future__ import annotations

import glob
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.domain.knowledge import ChunkFilters, ScoredChunk
from service.knowledge_base.indexer import ALL_FILES
from service.knowledge_base.sources import is_url, without_credentials
from service.orchestrator.links import code_link, parse_remote, remote_url
from service.orchestrator.workflow import Checkpoint, StepContext, require

ACTION = "codebase.searchCode"
SEARCH_HITS = 8
CITATIONS = 6
QUERY_CHARS = 1000
SNIPPET_CHARS = 1500
_PATHLIKE = re.compile(r"[\w./-]+\.\w+")


def _mentioned(text: str, paths: set[str]) -> list[str]:
    """Indexed paths the ticket names, in the order it names them (a bare file name counts when unique)."""
    by_name: dict[str, list[str]] = {}
    for path in paths:
        by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    found: list[str] = []
    for word in _PATHLIKE.findall(text):
        word = word.strip("./")
        if word in paths:
            found.append(word)
        elif len(by_name.get(word, ())) == 1:
            found.append(by_name[word][0])
    return list(dict.fromkeys(found))


def _ordered(hits: list[ScoredChunk], named: list[str]) -> list[ScoredChunk]:
    """Chunks of the files the ticket names first (in the order it names them), then the rest by score."""
    rank = {path: i for i, path in enumerate(named)}
    return sorted(hits, key=lambda h: rank.get(h.chunk.path, len(rank)))


def _citation(hit: ScoredChunk, commit: str | None, link: str) -> dict[str, Any]:
    chunk = hit.chunk
    return {
        "path": chunk.path,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "symbol": chunk.symbol,
        "commit": commit,
        "score": round(hit.score, 6),
        "link": link,
        "snippet": chunk.text[:SNIPPET_CHARS],
    }


@dataclass(frozen=True)
class RetrieveStep:
    name: str = "retrieve"

    def run(self, ctx: StepContext) -> Checkpoint:
        ticket = ctx.checkpoint["read_ticket"]
        knowledge = ctx.services.knowledge
        name = knowledge.default_repository(ctx.run.repository)
        repository = knowledge.repository(name)
        commit = repository.commit
        source = repository.source
        remote = without_credentials(source) if is_url(source) else remote_url(Path(source))
        host = parse_remote(remote)
        query = f"{ticket['summary']}\n{ticket['description']}".strip()[:QUERY_CHARS]
        require(ctx, ACTION)
        ctx.services.echo(f"looking up the code {ticket['key']} is about in {name}")
        began = time.perf_counter()
        found = knowledge.search(query, repository=name, k=SEARCH_HITS)
        indexed = {f.path for f in knowledge.index.list_files(repository=name, limit=ALL_FILES)}
        named = _mentioned(f"{ticket['summary']}\n{ticket['description']}", indexed)
        hits = _ordered(found.hits, named)
        for path in named:
            if not any(h.chunk.path == path for h in hits):
                # Named by the ticket but not found by its words: the file's best chunk for the query.
                extra = knowledge.search(query, repository=name, k=1, filters=ChunkFilters(path_glob=glob.escape(path)))
                hits = [*extra.hits, *hits]
        citations = [
            _citation(
                hit,
                commit,
                code_link(host, path=hit.chunk.path, commit=commit, start=hit.chunk.start_line, end=hit.chunk.end_line),
            )
            for hit in hits[:CITATIONS]
        ]
        ctx.recorder.retrieval(
            query=query,
            citations=[{k: v for k, v in c.items() if k != "snippet"} for c in citations],
            duration_ms=(time.perf_counter() - began) * 1000,
            repository=name,
        )
        ctx.recorder.rationale(
            f"{len(citations)} code locations for {ticket['key']} ({found.mode} search"
            + (f"; the ticket names {', '.join(named)}" if named else "")
            + ")"
        )
        return {
            "retrieve": {
                "repository": name,
                "commit": commit,
                "git_dir": repository.path,
                "remote": without_credentials(remote) if remote else None,
                "mode": found.mode,
                "named_files": named,
                "citations": citations,
            }
        }
