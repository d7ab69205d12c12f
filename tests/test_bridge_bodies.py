"""Splitting texts for SIP phones and reading phone message bodies (pure functions of the bridge)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fspbx_sms.esl.bodies import Attachment, parse_body
from fspbx_sms.esl.chat import split_text


@given(st.text(), st.integers(min_value=4, max_value=64))
def test_split_text_keeps_every_character_in_order_under_the_limit(text, max_bytes):
    parts = split_text(text, max_bytes)
    assert "".join(parts) == text
    assert all(len(part.encode("utf-8", "surrogatepass")) <= max_bytes for part in parts)
    assert all(parts) or parts == [""]


def test_split_text_never_cuts_a_four_byte_character():
    assert split_text("😀😀😀", 5) == ["😀", "😀", "😀"]
    assert split_text("short", 1300) == ["short"]
    with pytest.raises(ValueError):
        split_text("x", 3)


def test_multipart_with_two_text_parts_and_two_pictures():
    png, jpeg = b"\x89PNG\r\n\x1a\n...", b"\xff\xd8\xff\xe0..."
    body = (
        "--sep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst line\r\n"
        f"--sep\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(png).decode()}\r\n"
        "--sep\r\nContent-Type: text/plain\r\n\r\nsecond line\r\n"
        f"--sep\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(jpeg).decode()}\r\n--sep--\r\n"
    )
    parsed = parse_body("multipart/mixed", body)
    assert parsed.text == "first line\nsecond line"
    assert parsed.attachments == (Attachment("image/png", png), Attachment("image/jpeg", jpeg))


def test_plain_text_and_a_multipart_without_boundary_line_stay_text():
    assert parse_body("text/plain", "--not a boundary?").text == "--not a boundary?"
    assert parse_body("multipart/mixed", "hello").text == "hello"
