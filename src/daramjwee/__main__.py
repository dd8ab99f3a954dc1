"""``python -m daramjwee``: the ``daramjwee`` command line."""

from ._cli import main

raise SystemExit(main())
