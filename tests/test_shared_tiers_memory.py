"""A 256 MiB value through each shared-tier store in bounded memory (peak RSS of a child process).

The value is generated, written, read and checked chunk by chunk (SHA-256),
never held whole.  The child measures its resident set before the write
(``VmRSS``) and its peak at the end (``VmHWM``); the servers keep the bytes in
their own processes, so they do not count.  Not ``getrusage().ru_maxrss``:
Linux carries it across ``execve`` from the process that forked (the pytest
process, which may be hundreds of MiB by then), so it would report the
parent's size, not the child's.  The conformance suite's
large-value test measures Python allocations only (``tracemalloc``); this one
also counts what the client libraries hold outside Python's allocator
(obstore's upload parts and HTTP buffers in Rust, redis-py's socket buffers).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from _servers import MotoServer, RedisServer

VALUE_SIZE = 256 * 1024 * 1024
RSS_GROWTH_LIMIT = 64 * 1024 * 1024

_CHILD = textwrap.dedent(
    """
    import hashlib, json, os, sys

    import daramjwee as dj

    def status(field: str) -> int:
        with open("/proc/self/status") as lines:
            for line in lines:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no {field} in /proc/self/status")

    kind, size, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    if kind == "redis":
        store = dj.RedisStore(settings["url"], prefix="memory-test:")
    else:
        from obstore.store import S3Store

        store = dj.ObjectStore(S3Store(settings["bucket"], **settings["options"]), "memory-test")
    chunk_size = 1024 * 1024
    block = bytearray(os.urandom(chunk_size))

    # Warm up: the client, its connection pool and runtime threads exist before the baseline.
    sink = store.begin_set("warm-up", dj.Metadata())
    for _ in range(3):
        sink.write(block)
    sink.commit()
    reader, _ = store.get_stream("warm-up")
    while reader.read(chunk_size):
        pass
    reader.close()
    store.delete("warm-up")

    baseline = status("VmRSS")
    written, read = hashlib.sha256(), hashlib.sha256()
    sink = store.begin_set("large", dj.Metadata(etag="large"))
    for offset in range(0, size, chunk_size):
        block[:8] = offset.to_bytes(8, "big")
        written.update(block)
        sink.write(block)
    sink.commit()
    reader, metadata = store.get_stream("large")
    total = 0
    while chunk := reader.read(chunk_size):
        read.update(chunk)
        total += len(chunk)
    reader.close()
    store.delete("large")
    store.close()
    peak = status("VmHWM")
    print(json.dumps({
        "baseline": baseline,
        "peak": peak,
        "total": total,
        "same": written.digest() == read.digest(),
        "etag": metadata.etag,
    }))
    """
)


def _stream_256_mib(kind: str, settings: dict[str, object]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(VALUE_SIZE), json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["total"] == VALUE_SIZE
    assert result["same"], "the bytes read differ from the bytes written"
    assert result["etag"] == "large"
    growth = result["peak"] - result["baseline"]
    assert growth < RSS_GROWTH_LIMIT, f"peak RSS grew by {growth / 2**20:.1f} MiB while streaming 256 MiB: {result}"


@pytest.mark.timeout(180)
def test_a_256_mib_value_streams_through_redis_in_bounded_memory(redis_server: RedisServer) -> None:
    _stream_256_mib("redis", {"url": redis_server.url})


@pytest.mark.timeout(180)
def test_a_256_mib_value_streams_through_s3_in_bounded_memory(s3_server: MotoServer) -> None:
    _stream_256_mib("s3", {"bucket": s3_server.bucket(), "options": s3_server.store_options()})
