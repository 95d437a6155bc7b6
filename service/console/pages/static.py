"""The console's own stylesheet and script, shipped in the package (no CDN, no build step)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import Response

from service.console.routing import router
from service.console.session import STATIC_FILES, STATIC_PREFIX
from service.errors import NotFound

TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@cache
def _asset(name: str) -> bytes:
    return files("service.console").joinpath("static", name).read_bytes()


@router.get(STATIC_PREFIX + "{name}")
def asset(name: str) -> Response:
    """One of :data:`STATIC_FILES`; anything else is a 404."""
    if name not in STATIC_FILES:
        raise NotFound(f"no console asset {name!r}")
    suffix = name[name.rfind(".") :]
    return Response(
        _asset(name),
        media_type=TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
