"""`wlb dedup`, `wlb rehash`, and how matches reach `wlb show` and the queue: through the CLI, on a fake instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

import cli
from core.db import Database
from core.models import Media, Publication, PubState
from tests.curation.engine_photos import TRANSFORMS, crop, jpeg, photo

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _run(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().out


def test_dedup_groups_files_without_any_archive(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.toml here: no archive, and nothing gets created
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    original = photo(1)
    (inbox / "a.jpg").write_bytes(jpeg(original))
    (inbox / "sub" / "b.jpg").write_bytes(TRANSFORMS["screenshot"](original))
    (inbox / "c.JPG").write_bytes(TRANSFORMS["mirror"](original))
    (inbox / "d.png").write_bytes(jpeg(photo(2)))
    (inbox / "broken.jpg").write_bytes(b"<html>not found</html>")
    (inbox / "notes.txt").write_text("not an image, skipped in folders")
    code, out = _run(capsys, "dedup", str(inbox), str(tmp_path / "missing.jpg"), "--json")
    assert code == 0
    result = json.loads(out)
    clusters = sorted(sorted(Path(f).name for f in c["files"]) for c in result["clusters"])
    assert clusters == [["a.jpg", "b.jpg", "c.JPG"], ["d.png"]]
    assert all(c["archive_matches"] == [] for c in result["clusters"])
    assert {Path(e["path"]).name: e["reason"] for e in result["errors"]} == {
        "missing.jpg": "no such file or folder", "broken.jpg": "not an image (the data looks like HTML)"}
    assert not (tmp_path / "data").exists()


def test_dedup_names_the_archive_items_a_file_matches(site, capsys) -> None:
    original = photo(3)
    site.source.add_status(images=[jpeg(original)], created_at=T0, acct="author")
    site.source.add_status(images=[jpeg(photo(4))], created_at=T0, acct="other")
    assert site.wlb("collect").code == 0
    author = next(i for i in site.queue("all") if i["author"]["handle"].startswith("author"))
    site.wlb("reject", str(author["id"]), "--reason", "blurry")
    received = site.root / "received.jpg"
    received.write_bytes(TRANSFORMS["crop 15%"](original))
    result = site.wlb("dedup", str(received), "--json")
    assert result.code == 0
    [cluster] = result.json()["clusters"]
    assert cluster["archive_matches"] == [author["id"]]
    assert cluster["archive_items"] == [{"id": author["id"], "status": "rejected", "rule": "cropped"}]
    text = site.wlb("dedup", str(received))
    assert f"#{author['id']} (rejected, cropped)" in text.out


def test_show_lists_duplicates_with_rule_and_distance(site) -> None:
    original = photo(5)
    site.source.add_status(images=[jpeg(original)], created_at=T0, acct="author")
    site.source.add_status(images=[TRANSFORMS["border 5%"](original)], created_at=T0 + timedelta(hours=1), acct="feature")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["feature"]["status"] == "duplicate" and items["feature"]["duplicate_of"] == items["author"]["id"]
    shown = site.wlb("show", str(items["author"]["id"]), "--json").json()
    [match] = shown["matches"]
    assert match["id"] == items["feature"]["id"] and match["tier"] == "duplicate" and not match["earlier"]
    assert match["rule"] in ("same photo", "edges edited") and match["phash_distance"] <= 10
    text = site.wlb("show", str(items["feature"]["id"]), "--no-preview")
    assert f"duplicate of #{items['author']['id']}" in text.out and "pHash distance" in text.out


def test_a_post_sharing_only_some_images_is_a_possible_duplicate(site) -> None:
    shared = photo(6)
    site.source.add_status(images=[jpeg(shared)], created_at=T0, acct="author")
    site.source.add_status(images=[TRANSFORMS["jpeg q40"](shared), jpeg(photo(7))], created_at=T0 + timedelta(hours=1),
                           acct="collage")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["collage"]["status"] == "pending"
    assert items["collage"]["possible_duplicate_of"] == [items["author"]["id"]]
    listing = site.wlb("queue")
    assert f"possible dup of #{items['author']['id']}" in listing.out


def _publish_old(site, item_id: int, days_ago: int) -> None:
    db = Database(site.db_url)
    with db.session() as s:
        s.execute(sa.text("UPDATE post SET status = 'published' WHERE id = :id"), {"id": item_id})
        s.add(Publication(post_id=item_id, channel="community", idempotency_key=f"k{item_id}", state=PubState.PUBLISHED,
                          published_at=datetime.now(UTC) - timedelta(days=days_ago)))
        s.commit()
    db.dispose()


def test_a_repost_of_a_recent_publication_is_merged_and_an_old_one_flagged(site) -> None:
    recent, old = photo(8), photo(9)
    site.source.add_status(images=[jpeg(recent)], created_at=T0, acct="recent")
    site.source.add_status(images=[jpeg(old)], created_at=T0, acct="old")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    _publish_old(site, items["recent"]["id"], days_ago=30)
    _publish_old(site, items["old"]["id"], days_ago=500)
    site.source.add_status(images=[TRANSFORMS["jpeg q40"](recent)], created_at=T0 + timedelta(days=30), acct="again1")
    site.source.add_status(images=[TRANSFORMS["jpeg q40"](old)], created_at=T0 + timedelta(days=500), acct="again2")
    run = site.wlb("collect", "--json")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["again1"]["status"] == "duplicate" and items["again1"]["duplicate_of"] == items["recent"]["id"]
    assert items["again2"]["status"] == "pending" and items["again2"]["possible_duplicate_of"] == [items["old"]["id"]]
    assert any(f"#{items['old']['id']}, published on" in w for w in run.json()["warnings"])


def test_rehash_recomputes_outdated_rows_and_resumes(site) -> None:
    for seed in (10, 11, 12):
        site.source.add_status(images=[jpeg(photo(seed))], created_at=T0, acct=f"a{seed}")
    site.wlb("collect")
    db = Database(site.db_url)
    with db.engine.begin() as conn:
        before = conn.execute(sa.select(Media.id, Media.hash_set).order_by(Media.id)).all()
        conn.execute(sa.text("UPDATE media SET hash_version = NULL, hash_set = NULL WHERE id IN (:a, :b)"),
                     {"a": before[0][0], "b": before[1][0]})
    first = site.wlb("rehash", "--json")
    assert first.code == 0 and first.json()["hashed"] == 2 and first.json()["failed"] == []
    assert site.wlb("rehash", "--json").json()["hashed"] == 0  # nothing left: a rerun resumes, never restarts
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(Media.id, Media.hash_set).order_by(Media.id)).all() == before
    assert site.wlb("rehash", "--all", "--json").json()["hashed"] == 3
    db.dispose()


def test_near_miss_files_are_separate_clusters(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    scene = photo(13, (1600, 700))
    (tmp_path / "left.jpg").write_bytes(jpeg(crop(scene, 0, 0, 0.4, 0)))
    (tmp_path / "right.jpg").write_bytes(jpeg(crop(scene, 0.4, 0, 0, 0)))
    code, out = _run(capsys, "dedup", str(tmp_path / "left.jpg"), str(tmp_path / "right.jpg"), "--json")
    assert code == 0 and len(json.loads(out)["clusters"]) == 2
