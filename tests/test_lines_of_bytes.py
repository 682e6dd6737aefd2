"""Raw bytes become the same line batch whether decoded to a Python string first or viewed in place."""

from __future__ import annotations

import numpy as np
import pytest

from data_lake.parsers import lines_frame, lines_of_bytes

HOSTILE = [
    b"",
    b"\n",
    b"a",
    b"a\nb",  # open last line
    b"a\n\nb\n",  # a blank line
    b"a\r\nb\n",
    b"\xe2\x82\nx\n",  # a multi-byte sequence cut by the newline
    b"\xed\xa0\x80\n",  # an encoded surrogate
    b"\xc0\xaf\n",  # overlong
    b"\xf4\x90\x80\x80\n",  # above U+10FFFF
    b"ok\xff\n",
    b"\xef\xbb\xbfbom\n",
    "é𝄞\n".encode(),
    b"\x00\n",
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_bytes_split_as_the_decoded_text(data: bytes) -> None:
    assert lines_of_bytes(data, 3, "node").equals(lines_frame(data.decode("utf-8", errors="replace"), 3, "node"))


def test_random_bytes_split_as_the_decoded_text() -> None:
    rng = np.random.default_rng(5)
    alphabet = np.frombuffer(b'\n\n{}"az09\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xff\x80', dtype=np.uint8)
    for _ in range(300):
        data = rng.choice(alphabet, rng.integers(0, 60)).tobytes()
        expected = lines_frame(data.decode("utf-8", errors="replace"), 0, "ws")
        assert lines_of_bytes(data).equals(expected), data
