"""The public site: `wlb export-site DIR` writes a wall, one page per repost and feeds of what was published."""

from __future__ import annotations

from app.output import Output
from app.site.builder import SiteReport, export_site

__all__ = ["SiteReport", "export_site", "summary"]


def summary(out: Output, report: SiteReport) -> None:
    """One line for the export, one warning line per item left out, then any advice."""
    if out.json_mode:
        return out.json(report)
    out.message(f"exported {report.items} reposts to {report.directory} "
                f"({report.encoded} image files encoded, {report.reused} unchanged)")
    for line in report.skipped:
        out.message(f"warning: {line}", "yellow")
    for note in report.notes:
        out.message(f"note: {note}", "dim")
