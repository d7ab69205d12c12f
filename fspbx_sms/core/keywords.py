"""Opt-out keywords (CTIA): a text that is only STOP, START or HELP (any case, trailing punctuation) is a command."""

from __future__ import annotations

from enum import StrEnum


class Keyword(StrEnum):
    """What a keyword text asks for."""

    #: Stop texting me from this number.
    STOP = "stop"
    #: Texting me is fine again.
    START = "start"
    #: What is this number? (answered with a configurable reply)
    HELP = "help"


_WORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.STOP),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.START),
    "HELP": Keyword.HELP,
}


def keyword_of(text: str) -> Keyword | None:
    """The keyword a whole text is, or None: "Stop!" is STOP; "please stop texting" is an ordinary text."""
    word = text.strip().rstrip(".!? ").upper()
    return _WORDS.get(word)
