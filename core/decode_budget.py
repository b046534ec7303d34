"""A shared allowance of pixels being decoded at once, so concurrent image decodes have a memory ceiling."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

# Decoding needs about 4 bytes a pixel (Pillow stores RGB as RGBX) plus a grey copy for hashing: twice the
# pixel limit lets two of the largest accepted images, or many ordinary photos, decode at the same time.
BUDGET_PER_MAX_PIXELS = 2


def budget_for(max_pixels: int) -> int:
    """The default allowance for a given per-image pixel limit."""
    return BUDGET_PER_MAX_PIXELS * max_pixels


class DecodeBudget:
    """Admit decodes first come first served while their pixels fit; one larger than everything runs alone."""

    def __init__(self, pixels: int):
        if pixels < 1:
            raise ValueError(f"a decode budget needs at least 1 pixel, not {pixels}")
        self.capacity = pixels
        self.in_use = 0
        self.peak = 0  # the most pixels ever admitted at once: what tests and benches check
        self.admitted = 0
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()

    @property
    def waiting(self) -> int:
        """How many decodes are queued for pixels."""
        with self._cond:
            return len(self._queue)

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Wait until `pixels` fit in the allowance, keep them for the block, then give them back."""
        pixels = max(1, int(pixels))
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                self._cond.wait_for(lambda: self._queue[0] is ticket and self._fits(pixels))
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may fit too
            self.in_use += pixels
            self.admitted += 1
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= pixels
                self._cond.notify_all()

    def _fits(self, pixels: int) -> bool:
        return self.in_use == 0 or self.in_use + pixels <= self.capacity


@contextmanager
def held(budget: DecodeBudget | None, pixels: int) -> Iterator[None]:
    """`budget.hold(pixels)`, or nothing when there is no budget (one decode at a time anyway)."""
    if budget is None:
        yield
    else:
        with budget.hold(pixels):
            yield
