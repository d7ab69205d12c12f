"""The ``chat`` API command line, escaped so that any text reaches the phone byte for byte.

FreeSWITCH splits ``chat``'s argument with switch_separate_string() (src/switch_utils.c): ``|`` separates
the fields, a pair of ``'`` groups and disappears, a backslash escapes the next character
(``\\n \\r \\t \\s`` become LF, CR, TAB, space), and spaces around each field are trimmed. The ESL command
itself ends at the first newline. Escaping every one of those characters makes the field arrive unchanged.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def escape_chat_field(text: str) -> str:
    """Escape one ``|``-separated field of the ``chat`` command so FreeSWITCH reads back exactly ``text``."""
    if "\0" in text:
        raise ValueError("a chat field cannot contain a NUL character")
    escaped = text.translate(_ESCAPES)
    core = escaped.strip(" ")
    if not core:
        return "\\s" * len(escaped)
    leading = len(escaped) - len(escaped.lstrip(" "))
    trailing = len(escaped) - len(escaped.rstrip(" "))
    return "\\s" * leading + core + "\\s" * trailing


def chat_command(from_uri: str, to_uri: str, body: str, content_type: str) -> str:
    """The ``chat sip|<from>|<to>|<body>|<type>`` API command (for ``api`` or ``bgapi``).

    A leading ``^^<c>`` would switch the delimiter only at the start of the whole argument, which is
    always ``sip``, so a body starting with ``^^`` needs nothing special.
    """
    fields = ["sip", from_uri, to_uri, body, content_type]
    return "chat " + "|".join(escape_chat_field(field) for field in fields)


def split_text(text: str, max_bytes: int) -> list[str]:
    """``text`` in parts of at most ``max_bytes`` UTF-8 bytes each, cut between characters, in order."""
    if max_bytes < 4:
        raise ValueError("max_bytes must leave room for any UTF-8 character (at least 4)")
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode("utf-8", "surrogatepass"))
        if size + width > max_bytes:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current or not parts:
        parts.append("".join(current))
    return parts
