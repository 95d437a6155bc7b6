"""The tool-name rule every provider shares: Bedrock Converse's ``ToolSpecification.name`` and OpenAI's
``function.name`` both accept 1..64 characters of ``[a-zA-Z0-9_-]`` (botocore bedrock-runtime model; OpenAI
API reference, "Create chat completion", ``tools[].function.name``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.domain.llm import ToolSpec
from service.errors import ConfigurationError

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def check_tools(tools: Sequence[ToolSpec]) -> None:
    """Raise :class:`ConfigurationError` for a tool name the providers refuse, or one given twice."""
    seen: set[str] = set()
    for tool in tools:
        if not TOOL_NAME.fullmatch(tool.name):
            raise ConfigurationError(
                f"invalid tool name {tool.name!r}: tool names are 1 to 64 letters, digits, '_' or '-'",
                hint="name the tool without dots, spaces or colons, e.g. codebase_searchCode for codebase.searchCode",
                details={"tool": tool.name, "pattern": TOOL_NAME.pattern},
            )
        if tool.name in seen:
            raise ConfigurationError(f"tool {tool.name!r} is given twice", hint="give every tool its own name")
        seen.add(tool.name)
