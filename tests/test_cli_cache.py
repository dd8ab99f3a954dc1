"""``daramjwee cache``: ls, stat, rm, purge and verify over a directory a real ``Cache``/``FileStore`` wrote.

The commands run in-process (``main([...])``, output captured) and as real
``python -m daramjwee`` subprocesses; a separate process writes and reads the
directory in a loop while they run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daramjwee as dj
from daramjwee._cachecmd import escape, format_age, parse_age, unescape
from daramjwee._cli import main
from daramjwee._inspection import Entry, read_record, record_path, remove_record
from daramjwee._record import encode_key, entry_name

HOSTILE_KEYS = [
    "line\nbreak",
    "esc\x1b[31mred\x1b[0m",
    "nul\x00and\rcr\tab",
    "lone \udcff surrogate",
    "bidi \u202e override and \u2028 separator",
    "back\\slash \\n not a newline",
    "다람쥐 " + "long" * 2_000,
]

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``daramjwee cache ARGS`` in-process: ``(exit code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["cache", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def no_fetch(old: dj.Metadata | None) -> dj.FetchResult:
    raise AssertionError("the entry should have been a hit")


def write(store: dj.FileStore, key: str, body: bytes, metadata: dj.Metadata) -> None:
    sink = store.begin_set(key, metadata)
    sink.write(body)
    sink.commit()


def read_all(store: dj.FileStore, key: str) -> tuple[bytes, dj.Metadata]:
    reader, metadata = store.get_stream(key)
    try:
        return b"".join(bytes(chunk) for chunk in iter(lambda: reader.read(65536), b"")), metadata
    finally:
        reader.close()


def file_of(root: Path, key: str) -> Path:
    return root / entry_name(encode_key(key))


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A directory a Cache wrote: an etagged, tagged entry with its own freshness, hostile keys, a large value."""
    root = tmp_path / "cache"
    with dj.Cache(stores=[dj.FileStore(root)], positive_fresh_for=60.0) as cache:
        cache.set_bytes(
            "user:1",
            b"hello",
            dj.Metadata(
                etag='"v1"',
                attrs={"content-type": "text/plain", "x-note": "two\nlines"},
                fresh_for=30.0,
                stale_while_revalidate=10.0,
            ),
            tags=["team:7", "users"],
        )
        cache.set_bytes("user:2", b"x" * 200_000)
        for index, key in enumerate(HOSTILE_KEYS):
            cache.set_bytes(key, bytes([index]) * (index + 1))
    return root


def test_ls_lists_every_key_escaped_with_size_and_age(run: Run, filled: Path) -> None:
    code, out, err = run("ls", str(filled))

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2 + len(HOSTILE_KEYS) + 2 + 1  # two tag entries and the summary
    assert all(char.isprintable() for line in lines for char in line)  # no raw control character, ever
    by_key = {unescape(line.split(None, 2)[2]): line.split(None, 2)[:2] for line in lines[:-1]}
    assert by_key["user:1"] == ["5", "0s"]
    assert by_key["user:2"][0] == "200000"
    for index, key in enumerate(HOSTILE_KEYS):
        assert by_key[key][0] == str(index + 1)
    assert "\x00daramjwee:tag:team:7" in by_key  # the cache's own tag entries are shown too
    assert lines[-1].startswith(f"{len(by_key)} entries, ")
    assert "line\\nbreak" in out
    assert "esc\\x1b[31mred" in out
    assert "\\udcff" in out
    assert "\\u202e" in out


def test_ls_prefix_and_json_give_exact_keys(run: Run, filled: Path) -> None:
    code, out, _ = run("ls", str(filled), "--prefix", "user:")
    assert code == 0
    assert [line.split()[-1] for line in out.splitlines()[:-1]] == ["user:1", "user:2"]

    code, out, _ = run("ls", str(filled), "--json")
    assert code == 0
    assert out.isascii()
    assert out.count("\n") == 1
    document = json.loads(out)
    assert set(document) == {"directory", "entries", "damaged"}
    assert document["directory"] == str(filled)
    assert document["damaged"] == []
    keys = [entry["key"] for entry in document["entries"]]
    assert set(HOSTILE_KEYS) <= set(keys)  # exact, lone surrogate and all
    assert keys == sorted(keys)
    user = next(entry for entry in document["entries"] if entry["key"] == "user:1")
    assert set(user) == {
        "key", "path", "size", "file_size", "etag", "cached_at", "age", "is_negative", "tags", "content_type",
        "attrs", "fresh_for", "stale_while_revalidate", "stale_if_error", "must_revalidate", "freshness",
    }  # fmt: skip
    assert user["path"] == entry_name(b"user:1")
    assert user["file_size"] == file_of(filled, "user:1").stat().st_size
    assert (user["size"], user["etag"], user["tags"], user["content_type"]) == (
        5,
        '"v1"',
        ["team:7", "users"],
        "text/plain",
    )
    assert (user["fresh_for"], user["stale_while_revalidate"], user["freshness"]) == (30.0, 10.0, "fresh")
    assert 0 <= user["age"] < 30
    assert user["cached_at"] <= time.time()

    code, out, _ = run("ls", str(filled), "--prefix", "nothing-has-this", "--json")
    assert (code, json.loads(out)["entries"]) == (0, [])


def test_stat_shows_etag_tags_content_type_attrs_and_freshness(run: Run, filled: Path) -> None:
    code, out, err = run("stat", str(filled), "user:1")

    assert (code, err) == (0, "")
    fields = dict(line.split(None, 1) for line in out.splitlines() if not line.startswith("attr "))
    assert fields["key"] == "user:1"
    assert fields["size"] == f"5 bytes ({file_of(filled, 'user:1').stat().st_size} in the file)"
    assert fields["etag"] == '"v1"'
    assert fields["tags"] == "team:7, users"
    assert fields["content-type"] == "text/plain"
    assert fields["freshness"] == "fresh; per entry: fresh_for 30s, stale_while_revalidate 10s"
    assert fields["negative"] == "no"
    assert "attr          x-note: two\\nlines" in out.splitlines()

    code, out, _ = run("stat", str(filled), "user:2")
    assert code == 0
    assert "no per-entry freshness" in out
    code, out, _ = run("stat", str(filled), "user:2", "--fresh-for", "1h")
    assert "freshness     fresh (by --fresh-for 3600s)" in out.splitlines()


@pytest.mark.parametrize(
    ("metadata", "fresh_for", "state"),
    [
        (dj.Metadata(fresh_for=1000.0), None, "fresh"),
        (dj.Metadata(fresh_for=10.0), None, "stale"),  # no window: served stale however long
        (dj.Metadata(fresh_for=10.0, stale_while_revalidate=1000.0), None, "stale"),
        (dj.Metadata(fresh_for=10.0, stale_while_revalidate=10.0), None, "expired"),
        (dj.Metadata(fresh_for=10.0, stale_while_revalidate=1000.0, must_revalidate=True), None, "expired"),
        (dj.Metadata(), None, None),
        (dj.Metadata(), 1000.0, "fresh"),
        (dj.Metadata(), 10.0, "stale"),
        (dj.Metadata(fresh_for=1000.0), 10.0, "fresh"),  # the entry's own freshness wins
    ],
)
def test_freshness_follows_the_entrys_own_rules(
    run: Run, tmp_path: Path, metadata: dj.Metadata, fresh_for: float | None, state: str | None
) -> None:
    store = dj.FileStore(tmp_path)
    write(store, "k", b"body", metadata.replace(cached_at=time.time() - 100))
    extra = [] if fresh_for is None else ["--fresh-for", str(fresh_for)]

    code, out, _ = run("stat", str(tmp_path), "k", "--json", *extra)

    assert code == 0
    (entry,) = json.loads(out)["entries"]
    assert entry["freshness"] == state
    assert 100 <= entry["age"] < 130


def test_an_entry_without_cached_at_ages_from_its_file(run: Run, tmp_path: Path) -> None:
    store = dj.FileStore(tmp_path)
    write(store, "k", b"body", dj.Metadata())
    os.utime(file_of(tmp_path, "k"), (time.time() - 7200, time.time() - 7200))

    code, out, _ = run("stat", str(tmp_path), "k")
    assert code == 0
    assert "cached at     unknown (the file was written 2h0m ago)" in out.splitlines()
    code, out, _ = run("ls", str(tmp_path), "--json")
    (entry,) = json.loads(out)["entries"]
    assert entry["cached_at"] is None
    assert 7200 <= entry["age"] < 7300


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_round_trip_through_escaped_arguments(run: Run, filled: Path, key: str) -> None:
    code, out, _ = run("stat", str(filled), "--escaped", escape(key))
    assert code == 0
    assert out.splitlines()[0] == f"key           {escape(key)}"
    assert all(char.isprintable() for char in out.replace("\n", ""))

    code, out, _ = run("rm", str(filled), "-e", escape(key))
    assert code == 0
    assert not file_of(filled, key).exists()
    assert file_of(filled, "user:1").exists()


def test_rm_removes_the_entry_and_a_cache_over_the_directory_misses(run: Run, filled: Path) -> None:
    fetched = []

    def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        fetched.append(old)
        return dj.FetchResult(b"from the origin")

    code, out, err = run("rm", str(filled), "user:1")

    assert (code, out, err) == (0, "removed 'user:1'\n", "")
    with dj.Cache(stores=[dj.FileStore(filled)]) as cache:
        assert cache.get_bytes("user:1", fetch) == b"from the origin"
        assert fetched == [None]
        assert cache.get_bytes("user:2", no_fetch) == b"x" * 200_000  # the others stay

    code, out, err = run("rm", str(filled), "never-written")
    assert (code, out) == (2, "")
    assert err == f"daramjwee cache rm: no entry for key 'never-written' in {filled}\n"


def test_rm_does_not_break_a_reader_of_the_entry(run: Run, tmp_path: Path) -> None:
    store = dj.FileStore(tmp_path, chunk_size=4096)
    body = os.urandom(500_000)
    write(store, "big", body, dj.Metadata())
    reader, _ = store.get_stream("big")
    try:
        first = bytes(reader.read(4096))

        assert run("rm", str(tmp_path), "big")[0] == 0
        assert not file_of(tmp_path, "big").exists()

        rest = []
        while chunk := reader.read(65536):
            rest.append(bytes(chunk))
    finally:
        reader.close()
    assert first + b"".join(rest) == body  # read whole, checksum verified at the end
    with pytest.raises(dj.NotFound):
        store.get_stream("big")


def test_an_entry_replaced_after_it_was_read_is_not_removed(tmp_path: Path) -> None:
    store = dj.FileStore(tmp_path)
    write(store, "k", b"old", dj.Metadata(etag="old"))
    name, path = record_path(str(tmp_path), "k")
    old = read_record(name, path, verify_body=False)
    assert isinstance(old, Entry)
    assert old.metadata.etag == "old"

    write(store, "k", b"new", dj.Metadata(etag="new"))

    assert remove_record(path, old.identity) is False
    body, metadata = read_all(store, "k")
    assert (body, metadata.etag) == (b"new", "new")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: None, "no such directory"),
        (lambda path: path.write_text("a file"), "not a directory"),
        (lambda path: path.mkdir(), "not a daramjwee file-store directory (it has no tmp/ nor record directories)"),
        (lambda path: (path.mkdir(), (path / "tmp").mkdir(), (path / "notes.txt").write_text("mine")), "'notes.txt'"),
    ],
)
@pytest.mark.parametrize("command", [["ls"], ["stat", "k"], ["rm", "k"], ["purge"], ["verify", "--remove"]])
def test_a_bad_directory_is_one_line_and_exit_code_2(
    run: Run, tmp_path: Path, make: Callable[[Path], object], problem: str, command: list[str]
) -> None:
    target = tmp_path / "target"
    make(target)
    before = sorted(target.rglob("*")) if target.is_dir() else None

    code, out, err = run(command[0], str(target), *command[1:])

    assert (code, out) == (2, "")
    assert err.startswith(f"daramjwee cache {command[0]}: ")
    assert err.count("\n") == 1
    assert problem in err
    assert str(target) in err
    assert (sorted(target.rglob("*")) if target.is_dir() else None) == before  # nothing touched


def test_bad_arguments_are_usage_errors(run: Run, filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (
        ["purge", str(filled), "--prefix", "a", "--older-than", "1h"],
        ["purge", str(filled), "--older-than", "soon"],
        ["purge", str(filled), "--older-than", "-5m"],
        ["stat", str(filled), "--fresh-for", "1y", "k"],
        ["frobnicate", str(filled)],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["cache", *bad])
        assert exit_info.value.code == 2
    code, out, err = run("stat", str(filled), "-e", "bad \\q escape")
    assert (code, out) == (2, "")
    assert err.startswith("daramjwee cache stat: bad escape '\\q' at character 4")
    assert err.count("\n") == 1
    assert run("ls", str(filled))[1].count("\n") == 2 + len(HOSTILE_KEYS) + 2 + 1  # nothing lost


def tamper(path: Path, offset_from_end: int = 1) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_finds_a_tampered_byte_and_a_truncated_file(run: Run, filled: Path) -> None:
    assert run("verify", str(filled))[:2] == (0, f"verified {2 + len(HOSTILE_KEYS) + 2} records: 0 damaged\n")
    tamper(file_of(filled, "user:2"), 1000)
    truncated = file_of(filled, HOSTILE_KEYS[0])
    truncated.write_bytes(truncated.read_bytes()[:-1])
    link = filled / entry_name(b"a symlink")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(file_of(filled, "user:1"))

    code, out, err = run("verify", str(filled))

    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert sorted(lines[:-1]) == sorted(
        [
            f"damaged  {entry_name(b'user:2')}  user:2: body checksum mismatch",
            f"damaged  {entry_name(encode_key(HOSTILE_KEYS[0]))}  (key unreadable): "
            f"record file has {truncated.stat().st_size} bytes, its header says {truncated.stat().st_size + 1}",
            f"damaged  {entry_name(b'a symlink')}  (key unreadable): not a regular file (Too many levels of symbolic "
            "links)",
        ]
    )
    assert lines[-1] == f"verified {2 + len(HOSTILE_KEYS) + 2 + 1} records: 3 damaged"
    assert file_of(filled, "user:2").exists()  # reported, not removed

    code, out, err = run("stat", str(filled), "-e", escape(HOSTILE_KEYS[0]))
    assert code == 1
    assert out.startswith(f"damaged  {entry_name(encode_key(HOSTILE_KEYS[0]))}  (key unreadable): record file has ")
    code, out, err = run("ls", str(filled))  # heads only: the tampered body goes unseen, the other two are told
    assert code == 0
    assert out.splitlines()[-1].startswith(f"{2 + len(HOSTILE_KEYS) + 2 - 1} entries, ")
    assert err == f"2 damaged records not listed: see 'daramjwee cache verify {filled}'\n"

    code, out, _ = run("verify", str(filled), "--json")
    assert code == 1
    document = json.loads(out)
    assert {(item["key"], item["reason"], item["removed"]) for item in document["damaged"]} >= {
        ("user:2", "body checksum mismatch", False)
    }
    assert len(document["entries"]) == 2 + len(HOSTILE_KEYS) + 2 - 2

    code, out, _ = run("verify", str(filled), "--remove")
    assert code == 1  # damage was found, even though it is gone now
    assert out.count("[removed]") == 3
    assert out.splitlines()[-1].endswith("3 damaged, 3 removed")
    assert not file_of(filled, "user:2").exists()
    assert not truncated.exists()
    assert file_of(filled, "user:1").exists()  # the symlink's target stays
    assert run("verify", str(filled))[0] == 0


def test_verify_and_ls_skip_records_being_written(run: Run, tmp_path: Path) -> None:
    store = dj.FileStore(tmp_path, chunk_size=4096)
    write(store, "done", b"d" * 10_000, dj.Metadata())
    sink = store.begin_set("in progress", dj.Metadata())
    sink.write(b"p" * 50_000)  # spilled into a temp file, no header yet: not a record
    assert [path.name.endswith(".tmp") for path in (tmp_path / "tmp").iterdir()] == [True]

    assert run("verify", str(tmp_path))[:2] == (0, "verified 1 records: 0 damaged\n")
    assert run("verify", str(tmp_path), "--remove")[0] == 0
    assert run("ls", str(tmp_path))[1].splitlines()[-1].startswith("1 entries")
    size = file_of(tmp_path, "done").stat().st_size
    code, out, _ = run("purge", str(tmp_path))
    assert (code, out) == (0, f"removed 1 entries ({size} bytes in their files)\n")

    sink.write(b"p" * 50_000)
    sink.commit()  # the writer never noticed
    assert read_all(store, "in progress")[0] == b"p" * 100_000


def test_purge_older_than_removes_only_old_entries_and_keeps_tag_entries(run: Run, tmp_path: Path) -> None:
    store = dj.FileStore(tmp_path)
    now = time.time()
    with dj.Cache(stores=[store]) as cache:
        cache.set_bytes("tagged young", b"t", tags=["team"])
    tag_key = "\x00daramjwee:tag:team"
    tag_body, tag_metadata = read_all(store, tag_key)  # the tag was first used a month ago
    write(store, tag_key, tag_body, tag_metadata.replace(cached_at=now - 86400 * 30))
    tag_file = file_of(tmp_path, tag_key)
    write(store, "old", b"o", dj.Metadata(cached_at=now - 3 * 3600))
    write(store, "old unstamped", b"o", dj.Metadata())
    os.utime(file_of(tmp_path, "old unstamped"), (now - 3 * 3600, now - 3 * 3600))
    write(store, "young", b"y", dj.Metadata(cached_at=now - 3600))
    write(store, "young unstamped", b"y", dj.Metadata())

    code, out, _ = run("purge", str(tmp_path), "--older-than", "2h")

    assert code == 0
    assert out.startswith("removed 2 entries (")
    assert not file_of(tmp_path, "old").exists()
    assert not file_of(tmp_path, "old unstamped").exists()
    assert tag_file.exists()
    with dj.Cache(stores=[dj.FileStore(tmp_path)]) as cache:  # a new cache: no tag versions in memory
        assert cache.get_bytes("young", no_fetch) == b"y"
        assert cache.get_bytes("young unstamped", no_fetch) == b"y"
        assert cache.contains("tagged young")  # its tag is still current
        assert not cache.contains("old")

    assert run("purge", str(tmp_path), "--older-than", "1800")[1].startswith("removed 1 entries")
    assert not file_of(tmp_path, "young").exists()
    assert file_of(tmp_path, "young unstamped").exists()


def test_purge_by_prefix_and_everything(run: Run, filled: Path) -> None:
    code, out, _ = run("purge", str(filled), "--prefix", "user:")
    assert code == 0
    assert out.startswith("removed 2 entries (")
    assert not file_of(filled, "user:1").exists()
    assert not file_of(filled, "user:2").exists()
    assert file_of(filled, HOSTILE_KEYS[0]).exists()

    code, out, _ = run("purge", str(filled), "-e", "--prefix", "line\\n")
    assert out.startswith("removed 1 entries (")

    tamper(file_of(filled, HOSTILE_KEYS[1]))  # damaged: a bare purge removes it too
    code, out, _ = run("purge", str(filled))
    assert code == 0
    assert out.startswith(f"removed {len(HOSTILE_KEYS) - 1 + 2} entries (")
    assert [path for path in filled.rglob("*") if path.is_file()] == []
    assert (filled / "tmp").is_dir()
    assert run("ls", str(filled))[1] == "0 entries, 0 bytes in their files\n"


def test_as_a_subprocess(filled: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "daramjwee", "cache", *args], check=False, capture_output=True, text=True, timeout=60
        )

    listing = cli("ls", str(filled))
    assert listing.returncode == 0
    assert listing.stderr == ""
    assert "esc\\x1b[31mred\\x1b[0m" in listing.stdout
    assert "\x1b" not in listing.stdout

    tamper(file_of(filled, "user:1"))
    verify = cli("verify", str(filled), "--json")
    assert verify.returncode == 1
    assert [item["key"] for item in json.loads(verify.stdout)["damaged"]] == ["user:1"]

    missing = cli("stat", str(filled / "nope"), "k")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"daramjwee cache stat: no such directory: {filled / 'nope'}\n"  # no traceback


NOBODY = 65534


def run_as_nobody(*commands: list[str]) -> list[tuple[int, str, str]]:
    """Run each ``daramjwee cache`` command in a forked child that became ``nobody``: ``(code, out, err)`` each."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            results = []
            for command in commands:
                sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
                code = main(["cache", *command])
                results.append((code, sys.stdout.getvalue(), sys.stderr.getvalue()))
            os.write(write_end, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    return [tuple(result) for result in json.loads(data)]  # type: ignore[misc]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to write files as root and read them as another user")
def test_a_record_it_cannot_read_is_told_and_the_others_still_done() -> None:
    base = Path(tempfile.mkdtemp())  # not under pytest's tmp_path, which only root may enter
    try:
        base.chmod(0o755)
        root = base / "cache"
        store = dj.FileStore(root)
        for key in ("a", "b", "c"):
            write(store, key, key.encode() * 100, dj.Metadata())
        file_of(root, "a").chmod(0o600)
        unreadable = f"cannot read {entry_name(b'a')}: Permission denied"

        (verify, ls) = run_as_nobody(["verify", str(root)], ["ls", str(root)])
        assert verify == (2, "verified 2 records: 0 damaged\n", f"daramjwee cache verify: {unreadable}\n")
        assert ls[0] == 2
        assert ls[1].splitlines()[-1] == "2 entries, " + ls[1].splitlines()[-1].split(", ")[1]
        assert ls[2] == f"daramjwee cache ls: {unreadable}\n"

        tamper(file_of(root, "b"))
        ((code, out, err),) = run_as_nobody(["verify", str(root)])
        assert code == 1  # damage found outweighs a record it could not read
        assert out.splitlines()[-1] == "verified 2 records: 1 damaged"
        assert err == f"daramjwee cache verify: {unreadable}\n"
    finally:
        shutil.rmtree(base)


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    store = dj.FileStore(tmp_path)
    for index in range(40):
        write(store, f"{index:02} " + "k" * 4000, b"v", dj.Metadata())  # 160 kB of listing: more than a pipe holds
    command = [sys.executable, "-m", "daramjwee", "cache", "ls", str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as listing:
        assert listing.stdout is not None
        assert listing.stdout.readline().endswith(b"00 " + b"k" * 4000 + b"\n")
        listing.stdout.close()  # as `| head -1` does
        assert listing.wait(timeout=60) == 141
        assert listing.stderr is not None
        assert listing.stderr.read() == b""


WRITER = textwrap.dedent(
    """
    import hashlib, json, random, sys, time
    import daramjwee as dj

    root, seconds = sys.argv[1], float(sys.argv[2])
    store = dj.FileStore(root, "4MiB", chunk_size=4096)
    rng = random.Random(7)
    keys = [f"w:{i}" for i in range(12)] + [f"hostile\\n{i}\\x00\\udcff" for i in range(4)]
    counts = {"writes": 0, "reads": 0, "misses": 0, "torn": 0}
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        key = rng.choice(keys)
        if rng.random() < 0.5:
            body = rng.randbytes(rng.choice([0, 100, 5_000, 70_000, 300_000]))
            sink = store.begin_set(key, dj.Metadata(etag=hashlib.sha256(body).hexdigest(), cached_at=time.time()))
            for start in range(0, len(body), 8192):
                sink.write(body[start:start + 8192])
            sink.commit()
            counts["writes"] += 1
        else:
            try:
                reader, metadata = store.get_stream(key)
            except dj.NotFound:
                counts["misses"] += 1
                continue
            try:
                body = b"".join(iter(lambda: bytes(reader.read(16384)), b""))
            finally:
                reader.close()
            counts["reads"] += 1
            counts["torn"] += hashlib.sha256(body).hexdigest() != metadata.etag
    print(json.dumps(counts), flush=True)
    """
)


def test_commands_run_safely_while_another_process_writes_and_reads(run: Run, tmp_path: Path) -> None:
    dj.FileStore(tmp_path)  # the directory exists before the commands run
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        rounds = 0
        while writer.poll() is None:
            for args in (["ls"], ["verify"], ["ls", "--json"], ["verify", "--json"]):
                code, out, err = run(args[0], str(tmp_path), *args[1:])
                assert (code, err) == (0, ""), out
                if "--json" in args:
                    assert json.loads(out)["damaged"] == []
                else:
                    assert not any(line.startswith("damaged") for line in out.splitlines()), out
            assert run("purge", str(tmp_path), "--prefix", "w:1")[0] == 0
            assert run("purge", str(tmp_path), "--older-than", "0.2")[0] == 0
            rounds += 1
        out, err = writer.communicate(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert (writer.returncode, err) == (0, "")
    counts = json.loads(out)
    assert counts["torn"] == 0
    assert min(counts["writes"], counts["reads"]) > 20, counts
    assert rounds >= 3


@given(st.text())
def test_escape_round_trips_and_leaves_no_control_character(text: str) -> None:
    escaped = escape(text)
    assert escaped.isprintable()
    assert unescape(escaped) == text


@given(st.text(alphabet=st.sampled_from("\\xuUnrt0123456789abcdefABCDEFg\n")))
def test_unescape_takes_any_text_or_says_what_is_wrong(text: str) -> None:
    try:
        unescape(text)
    except ValueError as error:
        message = str(error)
    else:
        return  # no other exception, ever
    assert message.startswith("bad escape '\\")


def test_ages() -> None:
    assert [parse_age(text) for text in ("90", "90s", "10m", "2h", "7d", "1w", "1.5h", " 3 m ")] == [
        90, 90, 600, 7200, 7 * 86400, 7 * 86400, 5400, 180,
    ]  # fmt: skip
    for bad in ("", "-5", "5y", "h", "1e400", "inf", "nan", "1 h 2 m"):
        with pytest.raises(ValueError, match=r"expected seconds|too long"):
            parse_age(bad)
    assert [format_age(seconds) for seconds in (-3, 0, 59.9, 60, 3599, 3600, 86399, 86400 * 3 + 7200)] == [
        "0s", "0s", "59s", "1m0s", "59m59s", "1h0m", "23h59m", "3d2h",
    ]  # fmt: skip
