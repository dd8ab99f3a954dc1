"""The package as an application sees it: its public names and its manners."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import daramjwee as dj


def test_every_public_name_is_exported() -> None:
    assert sorted(dj.__all__) == dj.__all__
    for name in dj.__all__:
        assert hasattr(dj, name), name
    spec_names = {"Cache", "AsyncCache", "Config", "MemStore", "AsyncMemStore", "FileStore", "AsyncFileStore"}
    spec_names |= {"Metadata", "FetchResult", "Response", "Status", "Writer", "DaramjweeError", "NotFound"}
    spec_names |= {"NotModified", "CacheableNotFound", "CacheClosed", "ConfigError", "TierError"}
    spec_names |= {"BackgroundJobRejected"}
    assert spec_names <= set(dj.__all__)


def test_an_unconfigured_application_sees_no_library_logs_on_stderr() -> None:
    script = textwrap.dedent(
        """
        import daramjwee as dj
        from daramjwee.testing import FaultyStore

        broken = FaultyStore(dj.MemStore())
        broken.fail("get_stream")
        with dj.Cache(stores=[dj.MemStore(), broken]) as cache:
            print(cache.get_bytes("k", lambda old: dj.FetchResult(b"value")))
        print(cache.stats().tiers[1].errors)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["b'value'", "1"], "the failure happened and was counted"
    assert result.stderr == ""
