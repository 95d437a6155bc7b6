"""One fake Jira site: its accounts, representations (Cloud v3 with ADF or Data Center v2 with wiki text) and
behaviour (create with Jira's validations, edit, workflow, comments, links). HTTP is in ``jira_server``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path
from typing import Any, Literal

from tests.fakes.jira_faults import Faults
from tests.fakes.jira_state import (
    STATUSES,
    FakeIssue,
    FakeProject,
    FieldMeta,
    IssueStore,
    JiraFault,
    adf_text,
    is_adf,
    jira_time,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jira"
MAX_SUMMARY = 255
MAX_TEXT = 32_767


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeJira:
    """One fake site: ``cloud`` serves /rest/api/3 (and answers 410 on the removed search); ``datacenter``
    serves /rest/api/2 with startAt paging. ``journal`` records (method, path) of every authenticated call.
    """

    def __init__(self, deployment: Literal["cloud", "datacenter"], base_url: str) -> None:
        self.deployment = deployment
        self.base_url = base_url
        self.email, self.api_token = "bot@example.com", "cloud-token-0001"
        self.username, self.password, self.pat = "ticketsmith", "dc-password-01", "dc-pat-0000000001"
        self.search_page_cap = 100
        self.faults = Faults()
        self.journal: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        base = 10 if deployment == "cloud" else 100
        epic = (
            FieldMeta("parent", "Parent", False, schema={"type": "issuelink", "system": "parent"})
            if deployment == "cloud"
            else FieldMeta(
                "customfield_10008",
                "Epic Link",
                False,
                schema={"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10008},
            )
        )
        team = FieldMeta(
            "customfield_10050",
            "Team",
            True,
            schema={"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
            allowed=["Platform", "Payments"],
        )
        self.store = IssueStore(
            [
                FakeProject(
                    "OPS", "10100", "Operations", {"Task": "10002", "Bug": "10004"}, base + 1, {"Task": [epic]}
                ),
                FakeProject(
                    "ENG",
                    "10200",
                    "Engineering",
                    {"Task": "10002", "Bug": "10004", "Epic": "10000"},
                    base + 30,
                    {"Bug": [team], "Task": [epic]},
                ),
            ],
            account=self._account(),
        )

    @property
    def version(self) -> str:
        return "3" if self.deployment == "cloud" else "2"

    def _account(self) -> dict[str, Any]:
        if self.deployment == "cloud":
            return {**fixture("cloud_v3_myself_response.json"), "emailAddress": self.email}
        return {"name": self.username, "key": "JIRAUSER10000", "displayName": "Ticketsmith", "active": True}

    def authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.deployment == "datacenter" and value == self.pat
        if scheme.lower() != "basic":
            return False
        try:
            user, _, secret = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        if self.deployment == "cloud":
            return (user, secret) == (self.email, self.api_token)
        return (user, secret) == (self.username, self.password)

    # --- representations -----------------------------------------------------------------------------

    def body_out(self, body: Any) -> Any:
        if self.version == "3":
            if isinstance(body, str):
                return {
                    "type": "doc",
                    "version": 1,
                    "content": [{"type": "paragraph", "content": [{"type": "text", "text": body}]}],
                }
            return body
        return adf_text(body) if isinstance(body, dict) else body

    def issue_json(self, issue: FakeIssue, fields: list[str] | None) -> dict[str, Any]:
        status_id, category, category_id = STATUSES[issue.status]
        links = []
        for link_id, type_name, inward, outward in self.store.links:
            if issue.key not in (inward, outward):
                continue
            _, name, inward_name, outward_name = self.store.link_type(type_name)
            other, side = (outward, "outwardIssue") if issue.key == inward else (inward, "inwardIssue")
            links.append(
                {
                    "id": link_id,
                    "type": {"name": name, "inward": inward_name, "outward": outward_name},
                    side: {"key": other, "id": str(self.store.issue(other).id)},
                }
            )
        all_fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": self.body_out(issue.description) if issue.description is not None else None,
            "labels": list(issue.labels),
            "issuetype": {
                "id": issue.project.issue_types[issue.issue_type],
                "name": issue.issue_type,
                "subtask": False,
            },
            "project": {"id": issue.project.id, "key": issue.project.key, "name": issue.project.name},
            "status": {
                "id": status_id,
                "name": issue.status,
                "statusCategory": {"id": category_id, "key": category, "name": issue.status},
            },
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
            "issuelinks": links,
            **issue.extra,
        }
        if fields is None or "*all" in fields or "*navigable" in fields:
            chosen = all_fields
        else:
            chosen = {k: v for k, v in all_fields.items() if k in fields}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.base_url}/rest/api/{self.version}/issue/{issue.id}",
            "fields": chosen,
        }

    def comment_json(self, issue: FakeIssue, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            **comment,
            "body": self.body_out(comment["body"]),
            "self": f"{self.base_url}/rest/api/{self.version}/issue/{issue.id}/comment/{comment['id']}",
        }

    # --- behaviour -----------------------------------------------------------------------------------

    def check_text(self, name: str, value: Any, errors: dict[str, str]) -> None:
        if value is None:
            return
        if self.version == "3":
            if not is_adf(value):
                raise JiraFault(400, fixture("error_400_invalid_adf.json")["errorMessages"])
            size = len(json.dumps(value))
        else:
            if not isinstance(value, str):
                errors[name] = "Operation value must be a string"
                return
            size = len(value)
        if size > MAX_TEXT:
            errors[name] = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."

    def create(self, body: Any) -> FakeIssue:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise JiraFault(400, ["Issue must have fields"])
        errors: dict[str, str] = {}
        try:
            project = self.store.project(str((fields.get("project") or {}).get("key") or fields["project"]["id"]))
        except (KeyError, TypeError, JiraFault):
            raise JiraFault(400, [], {"project": "valid project is required"}) from None
        wanted_type = fields.get("issuetype") or {}
        issue_type = next(
            (n for n, i in project.issue_types.items() if wanted_type.get("id") == i or wanted_type.get("name") == n),
            None,
        )
        if issue_type is None:
            raise JiraFault(400, [], {"issuetype": "The issue type selected is invalid."})
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > MAX_SUMMARY or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters."
        self.check_text("description", fields.get("description"), errors)
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or re.search(r"\s", label) or len(label) > 255:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        for meta in project.fields_for(issue_type):
            if meta.required and not meta.has_default and fields.get(meta.field_id) in (None, "", [], {}):
                errors.setdefault(meta.field_id, f"{meta.name} is required.")
            if meta.allowed is not None and meta.field_id in fields:
                value = fields[meta.field_id]
                if not isinstance(value, dict) or value.get("value") not in meta.allowed:
                    errors[meta.field_id] = f"Specify a valid value for {meta.name}"
        known = {m.field_id for m in project.fields_for(issue_type)}
        for name in fields:
            if name not in known:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        if errors:
            raise JiraFault(400, [], errors)
        return self.store.add_issue(project, issue_type, fields)

    def created_json(self, issue: FakeIssue) -> dict[str, Any]:
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.base_url}/rest/api/{self.version}/issue/{issue.id}",
        }

    def edit(self, issue: FakeIssue, body: dict[str, Any]) -> None:
        fields = dict(body.get("fields") or {})
        for verb in body.get("update", {}).get("labels", []):
            labels = fields.setdefault("labels", list(issue.labels))
            if "add" in verb and verb["add"] not in labels:
                labels.append(verb["add"])
            if "remove" in verb and verb["remove"] in labels:
                labels.remove(verb["remove"])
            if "set" in verb:
                fields["labels"] = list(verb["set"])
        errors: dict[str, str] = {}
        for label in fields.get("labels", []):
            if re.search(r"\s", label):
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "summary" in fields and len(fields["summary"]) > MAX_SUMMARY:
            errors["summary"] = "Summary must be less than 255 characters."
        self.check_text("description", fields.get("description"), errors)
        if errors:
            raise JiraFault(400, [], errors)
        for name, value in fields.items():
            if name in {"labels", "summary", "description"}:
                setattr(issue, name, list(value) if name == "labels" else value)
            else:
                issue.extra[name] = value
        issue.updated = self.store.now()

    def transitions_json(self, issue: FakeIssue) -> dict[str, Any]:
        out = []
        for tid, name, source, target in issue.project.transitions():
            if source != issue.status:
                continue
            status_id, category, category_id = STATUSES[target]
            out.append(
                {
                    "id": tid,
                    "name": name,
                    "hasScreen": False,
                    "isGlobal": False,
                    "isInitial": False,
                    "isAvailable": True,
                    "isConditional": False,
                    "to": {
                        "self": f"{self.base_url}/rest/api/{self.version}/status/{status_id}",
                        "id": status_id,
                        "name": target,
                        "statusCategory": {"id": category_id, "key": category, "name": target},
                    },
                }
            )
        return {"expand": "transitions", "transitions": out}

    def transition(self, issue: FakeIssue, body: dict[str, Any]) -> None:
        wanted = str((body.get("transition") or {}).get("id", ""))
        for tid, _, source, target in issue.project.transitions():
            if tid == wanted and source == issue.status:
                issue.status = target
                issue.updated = self.store.now()
                return
        raise JiraFault(400, [f"Transition id '{wanted}' is not valid for this issue."])

    def add_comment(self, issue: FakeIssue, body: Any) -> dict[str, Any]:
        text = body.get("body") if isinstance(body, dict) else None
        errors: dict[str, str] = {}
        if text is None or text == "":
            raise JiraFault(400, [], {"comment": "Comment body can not be empty!"})
        self.check_text("comment", text, errors)
        if errors:
            raise JiraFault(400, [], errors)
        moment = jira_time(self.store.now())
        author = {k: self.store.account.get(k) for k in ("accountId", "name", "displayName") if k in self.store.account}
        comment = {
            "id": str(10000 + sum(len(i.comments) for i in self.store.issues.values())),
            "author": author,
            "updateAuthor": author,
            "body": text,
            "created": moment,
            "updated": moment,
        }
        issue.comments.append(comment)
        return self.comment_json(issue, comment)

    def link(self, body: dict[str, Any]) -> None:
        try:
            type_name = body["type"]["name"]
            inward, outward = body["inwardIssue"]["key"], body["outwardIssue"]["key"]
        except (KeyError, TypeError):
            raise JiraFault(400, ["Link type, inward and outward issues are required."]) from None
        _, name, _, _ = self.store.link_type(type_name)
        self.store.issue(inward), self.store.issue(outward)
        if not any(link[1:] == (name, inward, outward) for link in self.store.links):
            self.store.links.append((str(20000 + len(self.store.links)), name, inward, outward))
