"""The import rules of the README's architecture section, checked on every module by walking its AST.

Imports point one way: cli → app → stages (collector, curation, publisher, consent) → platforms → core.
Imports inside functions count: importing lazily does not make a forbidden import allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("app", "core", "platforms", "collector", "curation", "publisher", "consent", "cli")
SCREEN = ("rich", "typer", "click")

# Which of our packages each layer may import (besides itself), and whether it may use screen libraries.
ALLOWED: dict[str, tuple[set[str], bool]] = {
    "core": (set(), False),
    "platforms": ({"core"}, False),
    "collector": ({"core", "platforms"}, False),
    "curation": ({"core", "platforms"}, False),
    "publisher": ({"core", "platforms"}, False),
    "consent": ({"core", "platforms"}, False),
    "app": ({"core", "platforms", "collector", "curation", "publisher", "consent"}, True),
}
# cli.py: the app layer, core, and curation's view and decision functions; never a platform or another stage.
CLI_ALLOWED = {"app", "core", "curation.views", "curation.queue", "curation.filters", "curation.files", "curation.rehash"}


def imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in a file, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root).parent.parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}" if not node.module else base) for alias in node.names]
        elif isinstance(node, ast.Call) and _dynamic(node) is not None:
            found.append((node.lineno, _dynamic(node)))
    return found


def _dynamic(call: ast.Call) -> str | None:
    """The module an importlib.import_module("x.y") or __import__("x") call names in its text, if it does."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.JoinedStr) and first.values:  # f"collector.{name}": its fixed start says the package
        first = first.values[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def violations(path: Path, layer: str, root: Path = ROOT) -> list[str]:
    allowed, screen = ALLOWED[layer]
    bad = []
    for line, name in imported(path, root):
        top = name.split(".")[0]
        where = f"{path.relative_to(root)}:{line} imports {name}"
        if top in OURS and top != layer and top not in allowed:
            bad.append(where)
        elif top in SCREEN and not screen:
            bad.append(f"{where} (no screen code below the app layer)")
    return bad


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer):
    files = layer_files(layer)
    assert files, f"{layer}/ has no modules"
    assert [v for f in files for v in violations(f, layer)] == []


def test_the_cli_imports_the_app_layer_core_and_curations_views_and_decisions_only():
    bad = []
    for line, name in imported(ROOT / "cli.py"):
        top = name.split(".")[0]
        if top in OURS and not any(name == a or name.startswith(a + ".") for a in CLI_ALLOWED):
            bad.append(f"cli.py:{line} imports {name}")
    assert bad == []


def test_the_walk_sees_every_kind_of_import(tmp_path):
    """The checker itself: top-level, lazy, from-, relative and aliased imports are all found."""
    (tmp_path / "platforms").mkdir()
    module = tmp_path / "platforms" / "probe.py"
    module.write_text("import rich.text as t\n\ndef f():\n    from collector import run\n    from . import registry\n"
                      "    from .registry import PLATFORMS\n    import curation.views\n", encoding="utf-8")
    assert [name for _, name in imported(module, tmp_path)] == ["rich.text", "collector", "platforms.registry",
                                                                "platforms.registry", "curation.views"]
    assert len(violations(module, "platforms", tmp_path)) == 3  # rich, collector, curation


def test_the_walk_sees_imports_by_name(tmp_path):
    """importlib.import_module and __import__ with our module's name in the text are imports too."""
    (tmp_path / "core").mkdir()
    module = tmp_path / "core" / "probe.py"
    module.write_text("import importlib\nfrom importlib import import_module\n\ndef f(kind):\n"
                      "    importlib.import_module('collector.run')\n    import_module(f'publisher.{kind}')\n"
                      "    __import__('rich')\n    importlib.import_module(kind)\n", encoding="utf-8")
    assert [name for _, name in imported(module, tmp_path)] == ["importlib", "importlib", "collector.run",
                                                                "publisher.", "rich"]
    assert len(violations(module, "core", tmp_path)) == 3  # collector, publisher, rich
