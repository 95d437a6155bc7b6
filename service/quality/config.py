"""Per-repository quality configuration: ``[tool.ticketsmith]`` in pyproject.toml, or ``.ticketsmith.toml``.

Example (either file; in ``.ticketsmith.toml`` leave out the table header)::

    [tool.ticketsmith]
    checkers = ["lint", "security", "complexity", "secrets", "markers", "hygiene"]
    ignore = ["docs/**", "**/migrations/**"]
    max_complexity = 10
    max_function_lines = 80
    max_file_bytes = 1000000
    [tool.ticketsmith.severity]
    "complexity.cyclomatic" = "medium"
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.domain.findings import Severity
from service.errors import InvalidInput

ALL_CHECKERS = ("lint", "security", "complexity", "secrets", "markers", "hygiene")


class QualityConfig(BaseModel):
    """What to check and how strictly. Every field has a default, so an empty file is valid."""

    model_config = ConfigDict(extra="forbid")

    checkers: list[str] = Field(default_factory=lambda: list(ALL_CHECKERS), description="Checkers to run.")
    ignore: list[str] = Field(default_factory=list, description="Glob patterns of paths never checked.")
    max_complexity: int = Field(
        default=10, ge=1, description="Cyclomatic complexity above which a function is flagged."
    )
    max_function_lines: int = Field(default=80, ge=1, description="Lines of code above which a function is flagged.")
    max_file_bytes: int = Field(default=1_000_000, ge=1, description="Tracked files larger than this are flagged.")
    severity: dict[str, Severity] = Field(default_factory=dict, description="Severity overrides by rule id.")

    def model_post_init(self, __context: object) -> None:
        unknown = sorted(set(self.checkers) - set(ALL_CHECKERS))
        if unknown:
            raise ValueError(f"unknown checkers {unknown}; choose from {list(ALL_CHECKERS)}")


def load_config(root: Path) -> tuple[QualityConfig, Path | None]:
    """The configuration of the repository at ``root`` and the file it came from (None: defaults).

    ``.ticketsmith.toml`` wins over ``pyproject.toml``. Raises :class:`InvalidInput` naming the file and the
    problem when either is malformed.
    """
    candidates = [(root / ".ticketsmith.toml", ()), (root / "pyproject.toml", ("tool", "ticketsmith"))]
    for path, keys in candidates:
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{path} is not valid TOML: {exc}") from None
        for key in keys:
            data = data.get(key, {}) if isinstance(data, dict) else {}
        if not data and keys:
            continue
        try:
            return QualityConfig.model_validate(data), path
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"invalid quality configuration in {path}: {problems}") from None
    return QualityConfig(), None
