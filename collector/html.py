"""Moved to core/html_text.py: the consent stage reads reply HTML too, and stages do not import each other."""

from core.html_text import html_to_text

__all__ = ["html_to_text"]
