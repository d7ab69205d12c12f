"""SMS segment counting at the GSM-7 and UCS-2 edges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fspbx_sms.core.segments import GSM_BASIC, GSM_EXTENSION, Encoding, count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", Encoding.GSM7, 1, 0),
        ("a" * 160, Encoding.GSM7, 1, 160),
        ("a" * 161, Encoding.GSM7, 2, 161),
        ("a" * 306, Encoding.GSM7, 2, 306),
        ("a" * 307, Encoding.GSM7, 3, 307),
        ("€" * 80, Encoding.GSM7, 1, 160),  # extension table: two septets each
        ("€" * 81, Encoding.GSM7, 2, 162),
        ("a" * 159 + "^", Encoding.GSM7, 2, 161),
        # 152 septets, then an escape pair that would straddle the 153-septet boundary: it moves whole.
        ("a" * 152 + "{" + "a" * 153, Encoding.GSM7, 3, 307),
        ("Ж" * 70, Encoding.UCS2, 1, 70),
        ("Ж" * 71, Encoding.UCS2, 2, 71),
        ("Ж" * 134, Encoding.UCS2, 2, 134),
        ("Ж" * 135, Encoding.UCS2, 3, 135),
        ("😀" * 35, Encoding.UCS2, 1, 70),  # outside the BMP: a surrogate pair each
        ("😀" * 36, Encoding.UCS2, 2, 72),
        ("a" * 66 + "😀" + "a" * 67, Encoding.UCS2, 3, 135),  # the pair is never split
        ("café", Encoding.GSM7, 1, 4),  # é is in the GSM alphabet
        ("ça va? ç", Encoding.UCS2, 1, 8),  # lower-case ç is not (only Ç is)
    ],
)
def test_segment_edges(text, encoding, segments, units):
    """Exactly 160/161, 70/71, the extension table, and characters that may not be split."""
    count = count_segments(text)
    assert (count.encoding, count.segments, count.units) == (encoding, segments, units)
    assert count.is_split == (segments > 1)


def test_alphabet_tables_have_their_standard_sizes():
    """127 printable characters in the default alphabet (the 128th is the escape), 10 in the extension table."""
    assert len(GSM_BASIC) == 127
    assert len(GSM_EXTENSION) == 10
    assert not GSM_BASIC & GSM_EXTENSION


@given(st.text(max_size=800))
def test_parts_are_never_fewer_than_the_units_need(text):
    """Whatever the text, the parts can hold its units, and a single part never exceeds its limit."""
    count = count_segments(text)
    single, part = (160, 153) if count.encoding is Encoding.GSM7 else (70, 67)
    if count.segments == 1:
        assert count.units <= single
    else:
        assert count.units > single
        assert count.segments >= -(-count.units // part)
