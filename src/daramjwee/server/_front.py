"""The request checks no ASGI server is trusted to make: one pure function the app calls before anything else.

The server in front (granian, see ``_serve.py``) bounds what a client can
make it buffer and wait for: the header's size and count, the time to send
it, the connections at once.  What reaches the app is a parsed request,
and some ambiguities survive parsing in some servers (measured in
docs/serve.md): several ``Host`` headers (which one names the site?), and
a body framed twice (``Content-Length`` with ``Transfer-Encoding``, or two
different lengths), the request smuggling pattern.  :func:`refusal`
answers those with 400; the app sends it with ``Connection: close``, so
the bytes after the request are never read as another one, under any
server.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["refusal"]


def refusal(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a request with these (raw ASGI) headers must be refused with 400 and its connection closed, or ``None``."""
    hosts = 0
    lengths: set[bytes] = set()
    chunked = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"host":
            hosts += 1
        elif lowered == b"content-length":
            lengths.update(part.strip() for part in value.split(b","))
        elif lowered == b"transfer-encoding":
            chunked = True
    if hosts > 1:
        return "more than one Host header"
    if lengths and chunked:
        return "both Content-Length and Transfer-Encoding"
    if len(lengths) > 1:
        return "conflicting Content-Length headers"
    return None
