"""`wlb publish` reports every publishing channel it went through, whatever became of its items."""

from __future__ import annotations

from tests.fakes import images


def _approved(site) -> dict:
    status = site.source.add_status(images=[images.jpeg(91)], text="Mont des Arts")
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    return status


def test_a_dry_run_lists_the_channel_it_planned_for(site):
    _approved(site)
    dry = site.wlb("publish", "--dry-run", "--json")
    assert dry.code == 0 and len(dry.json()["items"]) == 1
    assert dry.json()["channels"]["community"]["published"] == 0


def test_a_channel_whose_item_was_deleted_at_its_source_is_still_in_the_report(site):
    status = _approved(site)
    site.source.delete_status(status["id"])
    done = site.wlb("publish", "--json")
    assert done.code == 0 and done.json()["items"] == [] and site.community.published == []
    assert "deleted at its source" in " ".join(done.json()["warnings"])
    assert done.json()["channels"]["community"]["published"] == 0
