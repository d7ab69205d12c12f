"""Opt-out keyword recognition."""

from __future__ import annotations

import pytest

from fspbx_sms.core.keywords import Keyword, keyword_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.STOP), ("stop", Keyword.STOP), (" Stop! ", Keyword.STOP), ("StopAll", Keyword.STOP),
        ("UNSUBSCRIBE", Keyword.STOP), ("cancel", Keyword.STOP), ("End.", Keyword.STOP), ("quit", Keyword.STOP),
        ("START", Keyword.START), ("unstop", Keyword.START), ("help?", Keyword.HELP),
        ("please stop texting me", None), ("stopwatch", None), ("", None), ("ending soon", None),
    ],
)
def test_only_a_whole_keyword_text_is_a_command(text, expected):
    """Keywords are whole texts, any case, with trailing punctuation; words inside sentences are not."""
    assert keyword_of(text) == expected
