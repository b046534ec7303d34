"""The SSRF guard in the real pipeline: loopback canaries that must never be contacted."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


from tests.fakes import images

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Canary:
    """A server on 127.0.0.2 that records every hit; with `redirect_to`, it answers 302 instead."""

    def __init__(self, host: str, redirect_to: str | None = None):
        self.hits: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server naming
                canary.hits.append(self.path)
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    body = images.jpeg(1)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_media_on_an_unlisted_loopback_address_is_refused_without_contact(site):
    with Canary("127.0.0.2") as canary:
        status = site.source.add_status(images=[images.jpeg(5)], created_at=T0)
        status["media_attachments"][0]["url"] = f"{canary.url}/secret.jpg"
        run = site.wlb("collect", "--json")
    assert canary.hits == []
    (refused,) = run.json()["channels"]["source"]["refused"]
    assert "127.0.0.2 is a loopback address" in refused and "allow_private" in refused
    (item,) = site.queue("rejected")
    assert "loopback" in item["reasons"][0]


def test_redirect_from_an_allowed_origin_to_a_private_one_is_refused(site):
    with Canary("127.0.0.2") as target, Canary("127.0.0.1", redirect_to=f"{target.url}/inner.jpg") as hop:
        site.config.write_text(site.config.read_text().replace("allow_private = [", f'allow_private = ["{hop.url}", '))
        status = site.source.add_status(images=[images.jpeg(6)], created_at=T0)
        status["media_attachments"][0]["url"] = f"{hop.url}/outer.jpg"
        run = site.wlb("collect", "--json")
    assert hop.hits == ["/outer.jpg"], "the allowed origin is contacted"
    assert target.hits == [], "the redirect target is not"
    (refused,) = run.json()["channels"]["source"]["refused"]
    assert "127.0.0.2" in refused


def test_instance_on_an_unlisted_loopback_origin_fails_its_channel_only(site):
    with Canary("127.0.0.2") as canary:
        site.write_config(channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

[channels.sneaky]
kind = "mastodon"
base_url = "{canary.url}"
""")
        site.source.add_status(images=[images.jpeg(7)], created_at=T0)
        run = site.wlb("run", "--json")
    assert canary.hits == []
    assert run.code == 1
    report = run.json()["channels"]
    assert report["source"]["new_posts"] == 1
    assert "loopback" in report["sneaky"]["errors"][0]
