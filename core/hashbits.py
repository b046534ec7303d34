"""64-bit perceptual hashes as stored (signed BIGINT), compared (Hamming distance) and shown (hex).

Pure integer functions, kept apart from core/fingerprints.py so that showing a hash costs no numpy import.
"""

from __future__ import annotations

_BITS = 64
_MASK = (1 << _BITS) - 1
_SIGN = 1 << (_BITS - 1)


def to_signed(u: int) -> int:
    """Reinterpret a 64-bit unsigned value as int64."""
    u &= _MASK
    return u - (1 << _BITS) if u & _SIGN else u


def to_unsigned(s: int) -> int:
    """Reinterpret an int64 as a 64-bit unsigned value."""
    return s & _MASK


def hash_hex(s: int) -> str:
    """16 lowercase hex digits, first bit most significant (imagehash prints hashes the same way)."""
    return f"{to_unsigned(s):016x}"


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes, signed or unsigned."""
    return ((a ^ b) & _MASK).bit_count()
