"""The pixel budget shared by concurrent decodes: never more admitted than it holds, none starved."""

from __future__ import annotations

import io
import socket
import threading
import time

import httpx
import pytest
from PIL import Image

import collector.media as media
from core.media import MediaStore
from core.decode_budget import DecodeBudget, budget_for
from core.http import Http
from core.settings import NetworkSettings
from tests.fakes import images


def _until(condition) -> None:  # noqa: ANN001
    """Wait for another thread to reach a state (bounded; the assertions do not depend on how long it takes)."""
    for _ in range(5000):
        if condition():
            return
        time.sleep(0.001)
    raise AssertionError("the other thread never got there")


def _start(budget: DecodeBudget, pixels: int, release: threading.Event, admitted: list[int]) -> threading.Thread:
    def decode() -> None:
        with budget.hold(pixels):
            admitted.append(pixels)
            release.wait()
    thread = threading.Thread(target=decode, daemon=True)
    thread.start()
    return thread


def test_a_decode_waits_until_its_pixels_fit() -> None:
    budget, admitted = DecodeBudget(100), []
    first, second = threading.Event(), threading.Event()
    a = _start(budget, 60, first, admitted)
    _until(lambda: admitted == [60])
    b = _start(budget, 60, second, admitted)
    _until(lambda: budget.waiting == 1)
    assert admitted == [60] and budget.in_use == 60  # 60 + 60 > 100: the second waits
    first.set()
    a.join()
    _until(lambda: admitted == [60, 60])
    second.set()
    b.join()
    assert budget.peak == 60 and budget.in_use == 0 and budget.admitted == 2


def test_an_image_larger_than_the_budget_runs_alone() -> None:
    budget, admitted = DecodeBudget(100), []
    big, small = threading.Event(), threading.Event()
    a = _start(budget, 250, big, admitted)
    _until(lambda: admitted == [250])  # alone, it is admitted although over the budget
    b = _start(budget, 1, small, admitted)
    _until(lambda: budget.waiting == 1)
    assert admitted == [250]
    big.set()
    small.set()
    a.join()
    b.join()
    assert admitted == [250, 1] and budget.peak == 250


def test_waiters_are_served_in_order_so_a_large_image_is_not_starved() -> None:
    budget, admitted = DecodeBudget(100), []
    holder, large, late = threading.Event(), threading.Event(), threading.Event()
    a = _start(budget, 30, holder, admitted)
    _until(lambda: admitted == [30])
    b = _start(budget, 90, large, admitted)
    _until(lambda: budget.waiting == 1)
    c = _start(budget, 10, late, admitted)  # would fit now, but the large one came first
    _until(lambda: budget.waiting == 2)
    assert admitted == [30]
    holder.set()
    a.join()
    _until(lambda: admitted == [30, 90, 10])
    large.set()
    late.set()
    b.join()
    c.join()
    assert budget.peak == 100


def test_many_threads_never_hold_more_than_the_budget() -> None:
    budget, lock, seen = DecodeBudget(1000), threading.Lock(), []

    def decode(pixels: int) -> None:
        with budget.hold(pixels):
            with lock:
                seen.append(budget.in_use)

    threads = [threading.Thread(target=decode, args=(100 + 37 * i % 400,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) <= 1000 and budget.peak <= 1000 and budget.admitted == 64 and budget.in_use == 0


def test_a_budget_needs_pixels() -> None:
    with pytest.raises(ValueError, match="at least 1 pixel"):
        DecodeBudget(0)


def _png(seed: int, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    images.photo(seed, (64, 80)).resize(size).save(out, "PNG")
    return out.getvalue()


def test_downloads_share_one_budget_sized_from_the_pixel_limit(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch_all, as collect runs it: every decode (inspect and hash) of every thread goes through one budget."""
    made: list[DecodeBudget] = []

    class Recording(DecodeBudget):
        def __init__(self, pixels: int):
            super().__init__(pixels)
            self.holds: list[int] = []
            made.append(self)

        def hold(self, pixels: int):  # noqa: ANN201
            self.holds.append(pixels)
            return super().hold(pixels)

    monkeypatch.setattr(media, "DecodeBudget", Recording)
    bodies = {f"/{i}.png": _png(i, (400, 500)) for i in range(8)}
    sent: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, content=bodies[request.url.path], headers={"content-type": "image/png"})

    def resolve(host, port, *args, **kwargs):  # noqa: ANN001, ANN202 - a public address for the SSRF guard
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    net = NetworkSettings(max_pixels=300_000)
    with Http(net, transport=httpx.MockTransport(server), resolve=resolve) as http:
        results = list(media.fetch_all(http, MediaStore(tmp_path / "media"),
                                       [(i, [f"https://cdn.example/{i}.png"]) for i in range(8)],
                                       concurrency=8, max_bytes=net.max_media_bytes, max_pixels=net.max_pixels))
    assert sorted(sent) == sorted(bodies)
    assert all(r.sha256 and r.hashes for r in results), results
    [budget] = made
    assert budget.capacity == budget_for(300_000) == 600_000
    assert budget.holds == [200_000] * 16  # one decode to inspect, one to hash, per image
    assert budget.peak <= 600_000 and budget.in_use == 0


def test_a_png_over_the_budget_is_still_decoded_alone() -> None:
    from core.images import inspect_image

    budget = DecodeBudget(10)
    info = inspect_image(_png(1, (40, 50)), max_pixels=10_000, budget=budget)
    assert (info.width, info.height) == (40, 50) and budget.peak == 2000 and budget.admitted == 1


def test_a_jpeg_is_weighed_at_the_reduced_size_it_is_decoded_at() -> None:
    from core.images import inspect_image

    budget = DecodeBudget(10**6)
    out = io.BytesIO()
    Image.new("RGB", (800, 600), "blue").save(out, "JPEG")
    inspect_image(out.getvalue(), max_pixels=10**6, budget=budget)
    assert budget.peak == 200 * 150  # inspect decodes JPEGs at a quarter of each side


def test_pillow_allocates_decoded_images_in_blocks_the_system_gets_back() -> None:
    """Blocks over glibc's 32 MB mmap ceiling are unmapped when freed instead of staying in a thread's arena."""
    import core.images

    assert Image.core.get_block_size() == core.images.BLOCK_SIZE > 32 * 1024 * 1024
