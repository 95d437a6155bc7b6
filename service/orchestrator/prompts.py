"""Prompt templates: ``prompts/<name>.md.j2``, each with a version, rendered with Jinja2.

A template starts with front matter between ``---`` lines::

    ---
    version: 3
    description: the ticket body the deterministic planner writes
    ---
    ## Why it matters
    {{ why }}

``version`` is recorded (as ``<name>@<version>``'s parts, ``prompt`` and ``prompt_version``) in the MODEL span
of every run that used the template, so a trace says exactly which wording produced a ticket; bump it with
every change to the text. Rendering is strict (an undefined variable is an error, never an empty string) and
does not HTML-escape: the output is Markdown or a model prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from service.errors import ConfigurationError, NotFound

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"  # the source tree's; settings may name another
SUFFIX = ".md.j2"
_FRONT = re.compile(r"\A---\n(?P<head>.*?)\n---\n", re.DOTALL)
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Prompt:
    """One template: its name, version, description and Jinja2 source (front matter removed)."""

    name: str
    version: str
    description: str
    source: str

    @property
    def ref(self) -> str:
        """``<name>@<version>``, as shown in timelines."""
        return f"{self.name}@{self.version}"

    @cached_property
    def _template(self) -> jinja2.Template:
        environment = jinja2.Environment(
            autoescape=False,  # noqa: S701 -- Markdown and model prompts, never HTML
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        return environment.from_string(self.source)

    def render(self, variables: Mapping[str, Any]) -> str:
        """The template filled with ``variables``; :class:`ConfigurationError` when one it uses is missing."""
        try:
            return self._template.render(**variables)
        except jinja2.UndefinedError as exc:
            raise ConfigurationError(f"prompt {self.ref}: {exc.message}") from None


def parse_prompt(name: str, text: str) -> Prompt:
    """A :class:`Prompt` from a template file's text; :class:`ConfigurationError` without a valid front matter."""
    match = _FRONT.match(text.replace("\r\n", "\n"))
    if match is None:
        raise ConfigurationError(f"prompt {name}: no front matter (---, version: N, description: ..., ---)")
    fields: dict[str, str] = {}
    for line in match.group("head").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ConfigurationError(f"prompt {name}: front matter line {line!r} is not 'key: value'")
        fields[key.strip()] = value.strip()
    version = fields.get("version", "")
    if not version.isdigit():
        raise ConfigurationError(f"prompt {name}: front matter needs 'version: N' (a whole number), got {version!r}")
    source = text.replace("\r\n", "\n")[match.end() :]
    try:
        jinja2.Environment(autoescape=False).parse(source)  # noqa: S701 -- only parsed, to fail at load
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigurationError(f"prompt {name}: line {exc.lineno}: {exc.message}") from None
    return Prompt(name=name, version=version, description=fields.get("description", ""), source=source)


class PromptLibrary:
    """The templates in ``directory``, loaded on first use (default: the source tree's ``prompts/``; the
    container passes ``TICKETSMITH_ORCHESTRATOR__PROMPTS_DIR`` when set)."""

    def __init__(self, directory: Path = PROMPTS_DIR) -> None:
        self.directory = directory
        self._loaded: dict[str, Prompt] = {}

    def get(self, name: str) -> Prompt:
        """The template ``name``; :class:`NotFound` when there is no ``<name>.md.j2``."""
        if name in self._loaded:
            return self._loaded[name]
        if not _NAME.fullmatch(name):
            raise NotFound(f"no prompt {name!r}", hint="prompt names are lower-case words joined by '_'")
        path = self.directory / f"{name}{SUFFIX}"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"no prompt {name!r} in {self.directory}", hint=f"add {name}{SUFFIX}") from None
        prompt = parse_prompt(name, text)
        self._loaded[name] = prompt
        return prompt

    def names(self) -> list[str]:
        """Every template's name, sorted."""
        return sorted(p.name[: -len(SUFFIX)] for p in self.directory.glob(f"*{SUFFIX}"))

    def render(self, name: str, variables: Mapping[str, Any]) -> tuple[Prompt, str]:
        """The template and its text filled with ``variables``."""
        prompt = self.get(name)
        return prompt, prompt.render(variables)
