"""Graph JSON may carry 1e999 (Python reads it as inf) where a number is expected: it costs that value, not the run."""

from __future__ import annotations

import json

from core.bounds import as_int
from core.errors import PlatformError
from platforms import facebook, instagram


def test_an_infinite_number_is_no_number_for_either_graph_client():
    huge = json.loads("1e999")
    assert instagram.as_int(huge) is None and facebook.as_int(huge) is None  # both read numbers with core.bounds.as_int
    assert as_int(-huge) is None and as_int(float("nan")) is None
    assert instagram.as_int("12") == 12 and facebook.as_int(7) == 7


def test_an_instagram_error_body_with_an_infinite_code_is_still_one_platform_error():
    body = json.loads('{"error": {"message": "odd", "code": 1e999, "error_subcode": -1e999}}')
    error = instagram.graph_error(body, 400, "POST /1/media", token_env="T", write=True)
    assert isinstance(error, PlatformError)
