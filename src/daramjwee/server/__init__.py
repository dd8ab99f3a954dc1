"""``daramjwee serve``: the tier chain as a streaming HTTP caching proxy (an ASGI application).

Running it (:func:`serve`, :func:`run_on_granian`) needs granian, and an HTTP origin needs httpx: the ``serve``
extra (``pip install 'daramjwee[serve]'``).  Importing this package, ``CacheApp`` over a directory origin and the
HTTP rules that :class:`daramjwee.contrib.asgi.CacheMiddleware` shares need neither.
"""

from ._app import CacheApp
from ._origin_types import Origin, OriginError, OriginTimeout
from ._origins import open_origin
from ._serve import build_app, run_on_granian, serve
from ._settings import ServeSettings, load_settings

__all__ = [
    "CacheApp",
    "Origin",
    "OriginError",
    "OriginTimeout",
    "ServeSettings",
    "build_app",
    "load_settings",
    "open_origin",
    "run_on_granian",
    "serve",
]
