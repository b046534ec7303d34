"""core/ uses httpx and httpcore through their public API only: no private attribute of their objects."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
_PROBES = {"getattr", "hasattr", "setattr", "delattr"}


def private_uses(source: str) -> list[str]:
    """Each place that reads, writes or probes a _private attribute of anything but self or cls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            name = node.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _PROBES
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str)):
            name = node.args[1].value
        else:
            continue
        if name.startswith("_") and not name.startswith("__"):
            found.append((node.lineno, node.col_offset, f"line {node.lineno}: {ast.unparse(node)}"))
    return [where for *_, where in sorted(found)]


def _uses_httpx(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(name.split(".")[0] in ("httpx", "httpcore") for name in names):
            return True
    return False


HTTPX_MODULES = sorted(p for p in CORE.rglob("*.py") if _uses_httpx(p))


def test_the_http_modules_are_among_those_checked():
    assert {"http.py", "ssrf.py"} <= {p.name for p in HTTPX_MODULES}


@pytest.mark.parametrize("path", HTTPX_MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_no_private_httpx_or_httpcore_attributes(path):
    assert private_uses(path.read_text()) == [], f"core/{path.relative_to(CORE)} reaches into private attributes"


def test_the_check_finds_what_core_used_to_do():
    old = """
pool = transport._pool
transport._pool = httpcore.ConnectionPool(ssl_context=pool._ssl_context)
decoder = response._get_content_decoder()
response._content = b"".join(chunks)
if hasattr(response, "_content"):
    pass
"""
    assert private_uses(old) == ["line 2: transport._pool", "line 3: transport._pool", "line 3: pool._ssl_context",
                                 "line 4: response._get_content_decoder", "line 5: response._content",
                                 "line 6: hasattr(response, '_content')"]


def test_the_check_allows_own_attributes_dunders_and_public_names():
    fine = """
self._pool.handle_request(request)
cls._cache = {}
kind = response.__class__.__name__
response.is_stream_consumed and response.headers.copy()
getattr(response, "status_code")
"""
    assert private_uses(fine) == []
