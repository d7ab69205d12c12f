"""FreeSWITCH's argument tokenizer, ``switch_separate_string`` (``src/switch_utils.c``), ported step by step.

This is what turns ``chat sip|from|to|body|type`` into fields, and what our client's escaping is tested
against: paired single quotes group and vanish, a backslash escapes the next character (``\\| \\' \\" \\\\``,
and ``\\n \\r \\t \\s`` become newline, CR, tab, space), leading and trailing spaces are trimmed, and a
leading ``^^X`` switches the delimiter to ``X``. The C code works on a NUL-terminated buffer that it cuts in
place; the ports below keep that behaviour, including its corner cases (a trailing delimiter adds no empty
field, a lone quote is kept, a trailing backslash is kept).
"""

from __future__ import annotations

_ESCAPE = "\\"
_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _unescape_char(char: str) -> str:
    return _UNESCAPED.get(char, char)


def _cleanup(field: str, delim: str | None) -> str:
    """``cleanup_separated_string``: strip quotes, resolve escapes, trim the spaces around the field."""
    position = 0
    while position < len(field) and field[position] == " ":
        position += 1
    dest: list[str] = []
    end: int | None = None
    inside_quotes = False
    while position < len(field):
        char = field[position]
        escaped = False
        if char == _ESCAPE:
            following = field[position + 1] if position + 1 < len(field) else "\0"
            if following in ("'", '"', _ESCAPE) or (delim is not None and following == delim):
                replacement: str | None = following
            elif _unescape_char(following) != following:
                replacement = _unescape_char(following)
            else:
                replacement = None
            if replacement is not None:
                position += 1
                dest.append(replacement)
                end = len(dest)
                escaped = True
        if not escaped:
            if char == "'" and (inside_quotes or "'" in field[position + 1 :]):
                inside_quotes = not inside_quotes
                if inside_quotes:
                    end = len(dest)
            else:
                dest.append(char)
                if char != " " or inside_quotes:
                    end = len(dest)
        position += 1
    return "".join(dest if end is None else dest[:end])


def _split_on_char(buf: str, delim: str, limit: int) -> list[str]:
    """``separate_string_char_delim``: cut at unquoted, unescaped delimiters, at most ``limit`` fields."""
    starts: list[int] = []
    cuts: list[int] = []
    position = 0
    expecting_start = True
    inside_quotes = False
    while position < len(buf) and len(starts) < limit:
        if expecting_start:
            starts.append(position)
            expecting_start = False
            continue
        char = buf[position]
        if char == _ESCAPE:
            position += 1
        elif char == "'" and (inside_quotes or "'" in buf[position + 1 :]):
            inside_quotes = not inside_quotes
        elif char == delim and not inside_quotes:
            cuts.append(position)
            expecting_start = True
        position += 1
    return [_cleanup(buf[start : _field_end(start, cuts, len(buf))], delim) for start in starts]


def _split_on_blank(buf: str, limit: int) -> list[str]:
    """``separate_string_blank_delim``: cut at runs of unquoted, unescaped spaces."""
    starts: list[int] = []
    cuts: list[int] = []
    position = 0
    state = "start"
    inside_quotes = False
    while position < len(buf) and len(starts) < limit:
        char = buf[position]
        if state == "start":
            starts.append(position)
            state = "skip_initial_space"
        elif state == "skip_initial_space":
            if char == " ":
                position += 1
            else:
                state = "find_delim"
        elif state == "find_delim":
            if char == _ESCAPE:
                position += 1
            elif char == "'":
                inside_quotes = not inside_quotes
            elif char == " " and not inside_quotes:
                cuts.append(position)
                state = "skip_ending_space"
            position += 1
        elif char == " ":
            position += 1
        else:
            state = "start"
    return [_cleanup(buf[start : _field_end(start, cuts, len(buf))], None) for start in starts]


def _field_end(start: int, cuts: list[int], length: int) -> int:
    return next((cut for cut in cuts if cut >= start), length)


def separate_string(buf: str, delim: str, limit: int) -> list[str]:
    """``switch_separate_string(buf, delim, array, limit)``: the fields FreeSWITCH sees."""
    if limit <= 0:
        return []
    if buf.startswith("^^") and len(buf) >= 4:
        delim = buf[2]
        buf = buf[3:]
    if delim == " ":
        return _split_on_blank(buf, limit)
    return _split_on_char(buf, delim, limit)
