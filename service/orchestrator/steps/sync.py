"""Step ``sync``: bring the repository's knowledge base up to date and find its work tree and remote.

Parameters: ``source`` (a path or clone URL to index, or None to re-sync the indexed repository of the run's
``repository`` name) and ``ref``. Idempotent: a sync of an up-to-date index changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InvalidInput, TicketsmithError
from service.knowledge_base.sources import is_url, without_credentials
from service.orchestrator.links import remote_url
from service.orchestrator.workflow import Checkpoint, StepContext, require


@dataclass(frozen=True)
class SyncStep:
    name: str = "sync"

    def run(self, ctx: StepContext) -> Checkpoint:
        knowledge = ctx.services.knowledge
        name = ctx.run.repository
        source = ctx.parameters.get("source")
        ref = ctx.parameters.get("ref")
        if name is None and source is None:
            raise InvalidInput("a scan needs a repository", hint="give a path, a clone URL or an indexed name")
        require(ctx, "kb.sync")
        ctx.services.echo(f"syncing the knowledge base of {name or source}")
        with ctx.recorder.tool("kb.sync", {"source": source, "name": name, "ref": ref}) as call:
            summary = knowledge.sync(source, name=name, ref=ref)
            call.observation = {
                "repository": summary.repository,
                "commit": summary.commit,
                "files": summary.files,
                "chunks": summary.chunks,
                "processed": summary.processed,
                "incremental": summary.incremental,
            }
        embedded: str | None = None
        try:
            result = knowledge.embed(summary.repository)
            embedded = None if result is None else f"{result.covered}/{result.total} chunks embedded"
        except TicketsmithError as exc:
            # Search falls back to lexical while chunks are not embedded: the scan goes on without them.
            ctx.recorder.failure(error=f"embedding failed, searching lexically: {exc.message}", where=self.name)
        repository = knowledge.repository(summary.repository)
        root = knowledge.work_tree(summary.repository)
        remote = without_credentials(repository.source) if is_url(repository.source) else remote_url(root)
        return {
            "sync": {
                "repository": summary.repository,
                "commit": summary.commit,
                "files": summary.files,
                "chunks": summary.chunks,
                "processed": summary.processed,
                "embedded": embedded,
                "root": str(root),
                "remote": without_credentials(remote) if remote else None,
            }
        }
