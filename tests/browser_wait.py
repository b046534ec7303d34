"""Waiting on a page condition without `page.wait_for_function`: under load its polling falls back to evaluating
a string in the page, which a strict Content-Security-Policy (no 'unsafe-eval') refuses; `page.evaluate` runs
through the DevTools protocol, which the page's CSP does not govern."""

from __future__ import annotations

import time


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll `expression` (JavaScript) in the page until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never got to: {expression}")
        time.sleep(0.1)
