"""The checkers, one per module. ``all_checkers()`` lists them in the order they run."""

from __future__ import annotations

from service.quality.checker import Checker
from service.quality.checkers.complexity import ComplexityChecker
from service.quality.checkers.hygiene import HygieneChecker
from service.quality.checkers.lint import RuffChecker
from service.quality.checkers.markers import MarkersChecker
from service.quality.checkers.patterns import PatternSecurityChecker
from service.quality.checkers.secrets import SecretsChecker
from service.quality.checkers.security import BanditChecker


def all_checkers() -> list[Checker]:
    """Every checker this version knows."""
    return [
        RuffChecker(),
        BanditChecker(),
        PatternSecurityChecker(),
        ComplexityChecker(),
        SecretsChecker(),
        MarkersChecker(),
        HygieneChecker(),
    ]
