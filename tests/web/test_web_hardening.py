"""An adversarial read of `wlb web`: what a stranger or a careless colleague can send, and what comes back."""

from __future__ import annotations

from app.web import routes
from tests.web.conftest import csrf


def test_a_posted_form_is_bounded_before_sign_in(web):
    client = web.client()
    token = csrf(client.get("/login").text)
    upload = client.post("/login", data={"csrf": token, "username": "alice"},
                         files={"password": ("big.bin", b"x" * 4096)})  # an upload would be spooled to disk
    assert upload.status_code == 415
    large = client.post("/login", data={"csrf": token, "username": "alice", "password": "x" * (routes.MAX_FORM + 1)})
    assert large.status_code == 413

    def chunks():  # no Content-Length: counted while read
        for _ in range(routes.MAX_FORM // 1024 + 2):
            yield b"a=" + b"x" * 1022

    assert client.post("/login", content=chunks(),
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    many = "&".join(f"f{i}=1" for i in range(routes.MAX_FIELDS + 1))
    assert client.post("/login", content=many,
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413


def test_the_largest_caption_still_fits_in_a_form(web):
    client = web.signed_in()
    page = client.get(f"/items/{web.first}")
    caption = "📷" * 5000
    answer = client.post(f"/items/{web.first}/edit", data={"csrf": csrf(page.text), "expected": "pending",
                                                           "caption": caption, "back": "status=pending"})
    assert answer.status_code == 303 and web.item(web.first)["caption"] == caption
