"""How many SMS segments a text costs: GSM-7 (3GPP TS 23.038) when every character fits, else UCS-2.

A single GSM-7 SMS holds 160 septets and each part of a long one 153 (the rest carries the concatenation
header); characters of the extension table (``^{}\\[~]|€`` and form feed) take two septets, an escape and
the character, and the pair is never split across parts. UCS-2 holds 70 UTF-16 code units, 67 per part; a
character outside the Basic Multilingual Plane (most emoji) takes two units that are never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: The GSM 03.38 default alphabet (one septet each).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The GSM 03.38 extension table (an escape septet plus one: two septets each).
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


class Encoding(StrEnum):
    """How the text is carried over the air."""

    #: 7-bit default alphabet.
    GSM7 = "GSM-7"
    #: 16-bit, for any text with a character outside the GSM alphabet.
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentCount:
    """The cost of one text."""

    encoding: Encoding
    #: Number of SMS parts.
    segments: int
    #: Septets (GSM-7) or UTF-16 code units (UCS-2).
    units: int

    @property
    def is_split(self) -> bool:
        """True when the text goes out as several SMS (each billed)."""
        return self.segments > 1


def _pack(sizes: list[int], single: int, part: int) -> int:
    """Parts needed for characters of the given unit sizes; a character never straddles two parts."""
    total = sum(sizes)
    if total <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def count_segments(text: str) -> SegmentCount:
    """The encoding, segment count and unit count of ``text`` (an empty text is one segment)."""
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in text):
        sizes = [2 if char in GSM_EXTENSION else 1 for char in text]
        return SegmentCount(Encoding.GSM7, _pack(sizes, 160, 153), sum(sizes))
    sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SegmentCount(Encoding.UCS2, _pack(sizes, 70, 67), sum(sizes))
