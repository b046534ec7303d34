"""`wlb init`: a commented config.toml and data/ for someone who installed wlb elsewhere."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from core.errors import UsageError

# The same text as the repository's config.toml (a test keeps them equal).
TEMPLATE = files("core").joinpath("default_config.toml")


def write_config(directory: Path) -> Path:
    """Create DIR/config.toml and DIR/data/; refuse to overwrite an existing config."""
    directory = Path(directory).expanduser()
    target = directory / "config.toml"
    if target.exists():
        raise UsageError(f"{target} already exists; edit it, or choose another folder")
    (directory / "data").mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    return target
