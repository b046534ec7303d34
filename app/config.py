"""config.toml, checked against the platforms wlb knows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from core.settings import Settings
from core.settings import load_settings as _load
from platforms.registry import PLATFORMS


def load_settings(path: Path | str, *, env: Mapping[str, str] | None = None, check_secrets: bool = True) -> Settings:
    """Read and validate config.toml; raise ConfigError with one actionable line."""
    return _load(path, platforms=PLATFORMS, env=env, check_secrets=check_secrets)
