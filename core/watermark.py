"""The collection watermark every collector stores: one versioned JSON encoding of its NamedTuple mark.

A collector describes where it stands as a NamedTuple of str, int, tuple[str, ...] fields (optionally None);
`encode` writes it as {"v": FORMAT, field: value, ...} and `decode` reads it back, checking every field's type.
A stored value in a collector's older format goes to that collector's `legacy` reader, so an upgrade goes on
where collection stood. Anything unreadable is a fresh start (the mark's defaults): posts already stored are
recognised by their key, so that costs requests, never duplicates.
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, Union, get_args, get_origin, get_type_hints

from core.bounds import bound_watermark

log = logging.getLogger(__name__)

FORMAT = 2  # "v" of what encode writes; 1 stands for the collectors' own formats before it, which carry no "v"

M = TypeVar("M", bound=tuple)  # a NamedTuple


def encode(mark: NamedTuple) -> str | None:
    """Compact JSON of the fields that differ from their defaults; None if it does not fit Cursor.watermark."""
    defaults = type(mark)._field_defaults
    data: dict[str, Any] = {"v": FORMAT}
    for name, value in mark._asdict().items():
        if name not in defaults or value != defaults[name]:
            data[name] = list(value) if isinstance(value, tuple) else value
    return bound_watermark(json.dumps(data, separators=(",", ":")))


def decode(cls: type[M], value: str | None, legacy: Callable[[str], M] | None = None) -> M:
    """The stored mark; nothing stored: `cls()`; unreadable: `cls()` and a warning. Raises nothing for stored text."""
    if not value:
        return cls()
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        data = None  # not JSON: a legacy reader may know it (a bare id)
    try:
        if isinstance(data, dict) and "v" in data:
            if data["v"] != FORMAT:
                raise ValueError(f"format {str(data['v'])[:20]!r}; this wlb writes {FORMAT}")
            return from_fields(cls, data)
        if legacy is None:
            raise ValueError("no format version")
        return legacy(value)
    except UnsupportedField:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever is stored, the channel is collected: from scratch if need be
        return _fresh(cls, exc)


def _fresh(cls: type[M], why: Exception) -> M:
    log.warning("a stored watermark could not be read (%s): collecting as on a first run", str(why)[:200])
    return cls()


class UnsupportedField(TypeError):
    """A mark declares a field type the encoding does not know: a programming error, not a stored value's."""


def from_fields(cls: type[M], data: dict) -> M:
    """The mark from a JSON object's fields (absent ones default), each of its declared type; else ValueError."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    hints = get_type_hints(cls)
    values = {}
    for name in cls._fields:
        if name in data:
            values[name] = _typed(data[name], hints[name], name)
        elif name not in cls._field_defaults:
            raise ValueError(f"field {name!r} missing")
    return cls(**values)


def _typed(value: Any, hint: Any, name: str) -> Any:
    """The JSON value as the field's type: str, int, tuple[str|int, ...] or X | None; else ValueError."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _typed(value, inner, name)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list):
            raise ValueError(f"field {name!r} is not a list")
        return tuple(_typed(v, args[0], name) for v in value)
    if hint is str and isinstance(value, str) or hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, int):
        raise ValueError(f"field {name!r} is not {hint.__name__}")
    raise UnsupportedField(f"a watermark field cannot be {hint!r} ({name}): use str, int, tuple[str, ...] or X | None")
