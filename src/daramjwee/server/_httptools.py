"""uvicorn's httptools protocol, keeping an absolute-form request target visible to the app.

httptools reduces ``GET http://other/x HTTP/1.1`` to the path ``/x`` before
the app sees it, so the app could not refuse it.  This protocol puts the
target as sent into ``scope["raw_path"]`` whenever it does not start with
``/``, and :func:`~daramjwee.server._paths.cache_key` then answers 400.
Importing this module needs uvicorn with httptools (``uvicorn[standard]``).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TargetKeepingHttpToolsProtocol"]


class TargetKeepingHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if not self.url.startswith(b"/"):
            self.scope["raw_path"] = self.url  # the app has not run yet: it will see the target as sent
