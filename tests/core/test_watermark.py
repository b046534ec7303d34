"""One watermark encoding: versioned, typed, bounded; older formats go to the collector's legacy reader."""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

import pytest

from core.bounds import WATERMARK_MAX
from core.watermark import FORMAT, UnsupportedField, decode, encode, from_fields


class Mark(NamedTuple):
    newest: str | None = None
    seen: tuple[str, ...] = ()
    pages_left: int = 0
    left: int | None = 5


def test_a_mark_round_trips_with_its_version_and_without_its_defaults():
    mark = Mark("110", ("a", "b"), 3, None)
    text = encode(mark)
    assert json.loads(text) == {"v": FORMAT, "newest": "110", "seen": ["a", "b"], "pages_left": 3, "left": None}
    assert decode(Mark, text) == mark
    assert json.loads(encode(Mark("110"))) == {"v": FORMAT, "newest": "110"}, "defaults are not written"
    assert decode(Mark, encode(Mark())) == Mark()


def test_nothing_stored_is_a_first_run_without_a_warning(caplog):
    assert decode(Mark, None) == Mark() and decode(Mark, "") == Mark()
    assert caplog.records == []


@pytest.mark.parametrize("stored", [
    '{"v":999,"newest":"1"}',  # a format this wlb does not know
    '{"v":2,"newest":5}',  # an int where a str is declared
    '{"v":2,"pages_left":true}',  # JSON true is no count
    '{"v":2,"pages_left":"3"}',
    '{"v":2,"seen":"abc"}',  # a string is not a list of strings
    '{"v":2,"seen":[1,2]}',
    "not json", "[1,2]", "42", '{"newest":"1"}',  # no version and no legacy reader
])
def test_an_unreadable_mark_is_a_fresh_start_with_a_warning(stored, caplog):
    with caplog.at_level(logging.WARNING):
        assert decode(Mark, stored) == Mark()
    assert "could not be read" in caplog.text and "first run" in caplog.text


def test_unknown_fields_are_ignored():
    assert decode(Mark, '{"v":2,"newest":"7","later":{"x":1}}') == Mark("7")


def test_older_formats_go_to_the_legacy_reader():
    seen = []

    def legacy(value: str) -> Mark:
        seen.append(value)
        return Mark(newest=value) if value.isdigit() else from_fields(Mark, json.loads(value))

    assert decode(Mark, "110", legacy) == Mark("110")
    assert decode(Mark, '{"newest":"9","pages_left":2}', legacy) == Mark("9", pages_left=2)
    assert decode(Mark, '{"v":2,"newest":"3"}', legacy) == Mark("3")
    assert seen == ["110", '{"newest":"9","pages_left":2}'], "a versioned mark never reaches the legacy reader"
    assert decode(Mark, '{"newest":9}', legacy) == Mark(), "what the legacy reader refuses is a fresh start"
    assert decode(Mark, "{}", lambda v: Mark(str(int("x")))) == Mark()
    assert decode(Mark, '{"t":1e999}', lambda v: Mark(str(int(json.loads(v)["t"])))) == Mark(), "OverflowError"
    assert decode(Mark, "[" * 5000, legacy) == Mark(), "nested past the recursion limit: not JSON, not an id either"


def test_a_mark_that_does_not_fit_the_column_is_not_stored():
    assert encode(Mark(seen=("x" * 100,) * (WATERMARK_MAX // 100))) is None
    assert encode(Mark(newest="\x00")) == '{"v":2,"newest":"\\u0000"}', "JSON escapes what PostgreSQL refuses"


def test_a_field_type_the_encoding_does_not_know_is_a_programming_error():
    class Odd(NamedTuple):
        when: float = 0.0

    with pytest.raises(UnsupportedField):
        decode(Odd, '{"v":2,"when":1.5}')
