"""Reading a fetcher's body: chunks are handed on without copies where the read allows it."""

from __future__ import annotations

from daramjwee._async_body import async_open_body


async def test_a_chunk_that_fits_the_read_is_handed_on_whole_and_a_larger_one_is_split() -> None:
    first, second = b"abc", b"defghij"
    reader = async_open_body(iter([first, b"", second]))
    assert await reader.read(4) is first, "no slice, no copy"
    assert bytes(await reader.read(4)) == b"defg"
    assert bytes(await reader.read(4)) == b"hij"
    assert await reader.read(4) == b""
    assert await reader.read(4) == b""
