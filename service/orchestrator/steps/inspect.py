"""Step ``inspect``: for each problem, where it is (commit-pinned links) and the related code the knowledge
base finds around it (a RETRIEVAL span per search, with the chunks cited).

Only as many problems as the run may still file tickets for are inspected; the rest are listed as left over.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from service.domain.findings import Finding
from service.domain.knowledge import ScoredChunk
from service.errors import TicketsmithError
from service.orchestrator.links import RemoteRepository, code_link, parse_remote
from service.orchestrator.planner import Citation, Location, TicketContext
from service.orchestrator.steps.triage import FindingGroup
from service.orchestrator.workflow import Checkpoint, StepContext

SEARCH_HITS = 8
CITATIONS = 3
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def search_query(group: FindingGroup) -> str:
    """Words that find the code around a problem: the symbols and file names involved, and the message."""
    words: list[str] = []
    for finding in group.findings[:5]:
        if finding.symbol:
            words.extend(finding.symbol.split("."))
        words.append(PurePosixPath(finding.path).stem)
    words.extend(_WORD.findall(group.lead.message))
    return " ".join(dict.fromkeys(w for w in words if w))[:300]


def _overlaps(hit: ScoredChunk, findings: tuple[Finding, ...]) -> bool:
    chunk = hit.chunk
    return any(
        f.path == chunk.path and f.start_line <= chunk.end_line and chunk.start_line <= max(f.end_line, f.start_line)
        for f in findings
    )


def location(finding: Finding, remote: RemoteRepository | None, commit: str | None) -> Location:
    return Location(
        path=finding.path,
        start_line=finding.start_line,
        end_line=max(finding.end_line, finding.start_line),
        symbol=finding.symbol,
        snippet=finding.snippet,
        link=code_link(remote, path=finding.path, commit=commit, start=finding.start_line, end=finding.end_line)
        if finding.path
        else "",
        message=finding.message,
    )


@dataclass(frozen=True)
class InspectStep:
    name: str = "inspect"

    def run(self, ctx: StepContext) -> Checkpoint:
        sync, check = ctx.checkpoint["sync"], ctx.checkpoint["check"]
        repository = str(sync["repository"])
        commit = check.get("commit") or sync.get("commit")
        remote = parse_remote(sync.get("remote"))
        groups = [FindingGroup.of(g) for g in ctx.checkpoint["triage"]["groups"]]
        room = ctx.budget.tickets_left
        chosen, left_over = groups[:room], groups[room:]
        if left_over:
            ctx.recorder.rationale(
                f"{len(left_over)} of {len(groups)} problems are beyond this run's ticket budget and are left over"
            )
        contexts: list[dict[str, Any]] = []
        for number, group in enumerate(chosen, 1):
            ctx.ensure_budget()
            ctx.services.echo(f"inspecting {number}/{len(chosen)}: {group.lead.rule_id} in {group.files[0]}")
            citations = self._related(ctx, group, repository)
            lead = group.lead
            contexts.append(
                TicketContext(
                    fingerprint=group.fingerprint,
                    repository=repository,
                    commit=commit,
                    rule_id=lead.rule_id,
                    tool=lead.tool,
                    category=lead.category.value,
                    severity=lead.severity.value,
                    message=lead.message,
                    help_url=lead.help_url,
                    locations=tuple(location(f, remote, commit) for f in group.findings),
                    citations=tuple(
                        Citation(
                            path=hit.chunk.path,
                            start_line=hit.chunk.start_line,
                            end_line=hit.chunk.end_line,
                            symbol=hit.chunk.symbol,
                            commit=hit.chunk.commit,
                            score=round(hit.score, 4),
                            link=code_link(
                                remote,
                                path=hit.chunk.path,
                                commit=hit.chunk.commit,
                                start=hit.chunk.start_line,
                                end=hit.chunk.end_line,
                            ),
                        )
                        for hit in citations
                    ),
                    findings=len(group.findings),
                ).as_dict()
            )
        return {
            "inspect": {
                "contexts": contexts,
                "left_over": [{"fingerprint": g.fingerprint, "message": g.lead.message} for g in left_over],
            }
        }

    def _related(self, ctx: StepContext, group: FindingGroup, repository: str) -> list[ScoredChunk]:
        query = search_query(group)
        began = time.perf_counter()
        try:
            found = ctx.services.knowledge.search(query, repository=repository, k=SEARCH_HITS)
        except TicketsmithError as exc:
            ctx.recorder.failure(error=f"knowledge-base search failed: {exc.message}", where=self.name)
            return []
        # The chunks holding the findings come first: they are the code the ticket is about.
        hits = sorted(found.hits, key=lambda hit: not _overlaps(hit, group.findings))[:CITATIONS]
        ctx.recorder.retrieval(
            query=query,
            repository=repository,
            duration_ms=(time.perf_counter() - began) * 1000,
            citations=[
                {
                    "path": hit.chunk.path,
                    "start_line": hit.chunk.start_line,
                    "end_line": hit.chunk.end_line,
                    "symbol": hit.chunk.symbol,
                    "commit": hit.chunk.commit,
                    "score": round(hit.score, 4),
                }
                for hit in hits
            ],
        )
        return hits
