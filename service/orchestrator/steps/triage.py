"""Step ``triage``: one group of findings per problem, worst first, without what needs no new ticket.

Grouping: two findings belong to one problem when they have the same rule in the same file and symbol, or the
same rule and the same message once names, quoted text and numbers are taken out (the same mistake made in
several files). Groups are ranked by their worst severity, then by how many places they cover.

Each group's fingerprint comes from the repository, the rule and its normalised messages, never from paths
or lines, so it survives line shifts and a problem found in one more file keeps its ticket. Dropped: findings
suppressed in the code (``ticketsmith: ignore``, counted by the check), findings and groups whose fingerprint
the ticket ledger maps to a ticket that is still open.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.domain.findings import Finding, Severity
from service.domain.ledger import LedgerState
from service.domain.tickets import StatusCategory
from service.errors import TicketsmithError
from service.orchestrator.steps.check import finding_data, finding_of
from service.orchestrator.workflow import Checkpoint, StepContext
from service.tickets.filing import TicketFiler

_QUOTED = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")
GROUP_FINGERPRINT_DIGITS = 40


def normalise_message(message: str) -> str:
    """``message`` without what differs between two instances of one mistake: quoted names and numbers."""
    text = _QUOTED.sub("*", message.lower())
    text = _NUMBER.sub("n", text)
    return _SPACE.sub(" ", text).strip(" .")


@dataclass(frozen=True)
class FindingGroup:
    """One problem: its findings (worst first, then by place) and its fingerprint."""

    fingerprint: str
    findings: tuple[Finding, ...]

    @property
    def lead(self) -> Finding:
        return self.findings[0]

    @property
    def severity(self) -> Severity:
        return self.lead.severity

    @property
    def files(self) -> list[str]:
        return list(dict.fromkeys(f.path for f in self.findings))

    def as_dict(self) -> dict[str, Any]:
        lead = self.lead
        return {
            "fingerprint": self.fingerprint,
            "rule_id": lead.rule_id,
            "tool": lead.tool,
            "category": lead.category.value,
            "severity": lead.severity.value,
            "message": lead.message,
            "help_url": lead.help_url,
            "findings": [finding_data(f) for f in self.findings],
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> FindingGroup:
        return cls(fingerprint=str(data["fingerprint"]), findings=tuple(finding_of(f) for f in data["findings"]))


def group_fingerprint(repository: str, rule_id: str, messages: Iterable[str]) -> str:
    """The fingerprint of a group: repository, rule and the set of its normalised messages."""
    material = "\x1f".join(["scan-group", repository, rule_id, *sorted(set(messages))])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:GROUP_FINGERPRINT_DIGITS]


def _order(finding: Finding) -> tuple[int, str, int, str]:
    return (finding.severity.rank, finding.path, finding.start_line, finding.fingerprint)


def group_findings(findings: Sequence[Finding], *, repository: str) -> list[FindingGroup]:
    """Findings grouped into problems (see the module docstring), worst problem first."""
    parent = list(range(len(findings)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of: dict[tuple[str, ...], int] = {}
    for i, finding in enumerate(findings):
        for key in (
            ("place", finding.rule_id, finding.path, finding.symbol),
            ("message", finding.rule_id, normalise_message(finding.message)),
        ):
            j = first_of.setdefault(key, i)
            parent[root(i)] = root(j)
    members: dict[int, list[Finding]] = {}
    for i, finding in enumerate(findings):
        members.setdefault(root(i), []).append(finding)
    groups = []
    for items in members.values():
        ordered = tuple(sorted(items, key=_order))
        fingerprint = group_fingerprint(repository, ordered[0].rule_id, (normalise_message(f.message) for f in ordered))
        groups.append(FindingGroup(fingerprint=fingerprint, findings=ordered))
    return rank(groups)


def rank(groups: Iterable[FindingGroup]) -> list[FindingGroup]:
    """Worst severity first; then the group covering more places; then by rule and first file (stable)."""
    return sorted(groups, key=lambda g: (g.severity.rank, -len(g.findings), g.lead.rule_id, g.lead.path))


class OpenTickets:
    """Which fingerprints already have an open ticket, per the ledger (and the tracker, for open or closed).

    A ticket the tracker cannot be asked about right now counts as not open: the filer looks again when it
    files, and never creates a duplicate.
    """

    def __init__(self, filer: TicketFiler) -> None:
        self._filer = filer
        self._open: dict[str, bool] = {}

    def ticket(self, fingerprint: str) -> str | None:
        """The open ticket's key for ``fingerprint``, or None."""
        entry = self._filer.ledger.get(fingerprint=fingerprint)
        if entry is None or entry.state is not LedgerState.FILED or not entry.ticket_key:
            return None
        key = entry.ticket_key
        if key not in self._open:
            try:
                ticket = self._filer.tracker.get(key=key)
                self._open[key] = ticket.status_category is not StatusCategory.DONE
            except TicketsmithError:
                self._open[key] = False
        return key if self._open[key] else None


def triage(
    findings: Sequence[Finding], *, repository: str, open_ticket: Callable[[str], str | None]
) -> tuple[list[FindingGroup], list[dict[str, Any]]]:
    """The groups to write tickets for, and what was dropped (fingerprint, reason, ticket key)."""
    dropped: list[dict[str, Any]] = []
    kept: list[Finding] = []
    for finding in findings:
        key = open_ticket(finding.fingerprint)
        if key is None:
            kept.append(finding)
        else:
            dropped.append(_dropped(finding.fingerprint, key, finding.message, finding.path))
    groups: list[FindingGroup] = []
    for group in group_findings(kept, repository=repository):
        key = open_ticket(group.fingerprint)
        if key is None:
            groups.append(group)
        else:
            dropped.append(_dropped(group.fingerprint, key, group.lead.message, ", ".join(group.files)))
    return groups, dropped


def _dropped(fingerprint: str, key: str, message: str, where: str) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "ticket_key": key,
        "reason": f"already ticketed: {key} is open",
        "message": message,
        "where": where,
    }


@dataclass(frozen=True)
class TriageStep:
    name: str = "triage"

    def run(self, ctx: StepContext) -> Checkpoint:
        check = ctx.checkpoint["check"]
        repository = str(ctx.checkpoint["sync"]["repository"])
        findings = [finding_of(f) for f in check["findings"]]
        groups, dropped = triage(findings, repository=repository, open_ticket=OpenTickets(ctx.services.filer).ticket)
        ctx.recorder.rationale(
            f"{len(findings)} findings make {len(groups) + len(dropped)} problems; "
            f"{len(dropped)} already have open tickets and {check.get('suppressed', 0)} were suppressed in the "
            f"code; {len(groups)} need a ticket, worst first"
        )
        ctx.services.echo(f"triage: {len(groups)} problems to ticket, {len(dropped)} already ticketed")
        return {
            "triage": {
                "findings": len(findings),
                "suppressed": int(check.get("suppressed", 0)),
                "groups": [g.as_dict() for g in groups],
                "dropped": dropped,
            }
        }
