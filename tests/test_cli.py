"""The ``daramjwee`` command line as a user meets it: ``--version``, the flags the docs name, and one clear line
(exit status 2, never a traceback) for a missing extra or a setting that cannot work.

Every command runs for real in a subprocess.  A missing extra is made so by a
directory put first on ``PYTHONPATH`` holding a module of that name that raises
``ModuleNotFoundError`` as an absent package does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import daramjwee as dj
from daramjwee._cli import _parser

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(dj.__file__).resolve().parent.parent


def _run(*args: str, missing: tuple[str, ...] = (), shims: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m daramjwee *args`` with the packages ``missing`` unimportable (their shims written in ``shims``)."""
    paths = [str(SOURCE), os.environ.get("PYTHONPATH", "")]
    if missing:
        assert shims is not None
        shims.mkdir(exist_ok=True)
        for name in missing:
            (shims / f"{name}.py").write_text(
                f"raise ModuleNotFoundError({f'No module named {name!r}'!r}, name={name!r})\n"
            )
        paths.insert(0, str(shims))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    return subprocess.run(
        [sys.executable, "-m", "daramjwee", *args],
        capture_output=True, text=True, timeout=60, check=False, env=environment,
    )  # fmt: skip


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daramjwee "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]


def test_version_prints_the_package_version() -> None:
    result = _run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"daramjwee {dj.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", dj.__version__)


@pytest.mark.parametrize(
    ("args", "missing", "expected"),
    [
        (("serve", "--origin", "."), ("granian",), ("daramjwee serve needs granian", "pip install 'daramjwee[serve]'")),
        (("serve", "--origin", "http://127.0.0.1:1"), ("httpx",), ("needs httpx", "'daramjwee[serve]'")),
        (("serve", "--origin", ".", "--redis", "redis://127.0.0.1:1/0"), ("redis",), ("needs redis", "[redis]")),
        (("serve", "--origin", ".", "--s3", "s3://bucket/cache"), ("obstore",), ("needs obstore", "[s3]")),
        (("serve", "--origin", "s3://bucket/prefix"), ("obstore",), ("needs obstore", "[s3]")),
        (("demo", "--duration", "1"), ("rich",), ("daramjwee demo needs rich", "pip install 'daramjwee[cli]'")),
        (("bench", "--list"), ("rich",), ("daramjwee bench needs rich", "pip install 'daramjwee[bench]'")),
    ],
    ids=["serve-granian", "serve-httpx", "serve-redis", "serve-s3-tier", "serve-s3-origin", "demo-rich", "bench-rich"],
)
def test_a_missing_extra_is_one_line_naming_it(
    tmp_path: Path, args: tuple[str, ...], missing: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    extra = ("--cache-dir", str(tmp_path / "cache"), "--port", "0") if args[0] == "serve" else ()
    result = _run(*args, *extra, missing=missing, shims=tmp_path / "shims")
    _assert_one_clear_line(result, *expected)


def _not_a_directory(tmp_path: Path) -> str:
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    return str(path)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--origin", "ftp://files.example"), "unsupported scheme 'ftp'"),
        (("--origin", "http://"), "with a host"),
        (("--origin", "https://user:secret@example.com/base?query"), "must not have a query"),
        (("--origin", "http://user:secret@example.com:http/"), "invalid HTTP origin URL 'http://example.com:http/'"),
        (("--origin", "{tmp}/missing-directory"), "does not exist"),
        (("--origin", "s3://"), "cannot open the object-store origin 's3://'"),
        (("--origin", "{tmp}", "--redis", "localhost:6379"), "is not a Redis URL"),
        (("--origin", "{tmp}", "--s3", "gs://"), "cannot open an object store at 'gs://'"),
        (("--origin", "{tmp}", "--cache-dir", "{file}"), "cannot create the cache directory"),
        (("--origin", "{tmp}", "--memory", "lots"), "memory"),
        (("--origin", "{tmp}", "--max-target-length", "10"), "max-target-length must be an integer >= 64"),
    ],
    ids=[
        "scheme",
        "no-host",
        "query",
        "port",
        "no-directory",
        "no-bucket",
        "redis-url",
        "s3-url",
        "cache-dir",
        "size",
        "target",
    ],
)
def test_a_setting_that_cannot_work_is_one_line_before_the_server_starts(
    tmp_path: Path, flags: tuple[str, ...], expected: str
) -> None:
    values = {"tmp": str(tmp_path), "file": _not_a_directory(tmp_path)}
    args = [flag.format(**values) for flag in flags]
    if "--cache-dir" not in args:
        args += ["--cache-dir", str(tmp_path / "cache")]
    result = _run("serve", *args, "--port", "0")
    _assert_one_clear_line(result, "daramjwee serve: ", expected)
    assert "secret" not in result.stderr, "a password is never shown"


def _documented_flags(text: str) -> set[str]:
    """Every ``--flag`` in a markdown text, except those of the other programs it names (see below)."""
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)) - set(_OTHER_PROGRAMS)


# The flags of other programs that the docs quote (in comparisons, install and service steps), each with its program.
_OTHER_PROGRAMS = {
    "--limit-concurrency": "uvicorn",
    "--timeout-keep-alive": "uvicorn",
    "--h11-max-incomplete-event-size": "uvicorn",
    "--http1-buffer-size": "granian",
    "--http1-header-read-timeout": "granian",
    "--backpressure": "granian",
    "--system": "useradd",
    "--no-create-home": "useradd",
    "--now": "systemctl",
    "--json-dir": "python -m tests.http_conformance",
    "--id": "python -m tests.http_conformance",
    "--proxy": "python -m tests.http_conformance",
    "--strict": "mypy",
    "--rounds": "daramjwee bench",
    "--list": "daramjwee bench",
    "--quick": "daramjwee bench",
    "--version": "daramjwee (test_version_prints_the_package_version)",
    "--json": "daramjwee cache verify DIR",
    "--remove": "daramjwee cache verify DIR",
    "--prefix": "daramjwee cache purge DIR",
    "--older-than": "daramjwee cache purge DIR",
    "--escaped": "daramjwee cache rm DIR KEY",
}


def _accepts(command: str, flag: str) -> bool:
    """Whether the real parser of ``daramjwee <command>`` takes ``flag`` (alone, or with a value).

    ``command`` may be several words: ``"cache purge DIR"``.
    """
    words = command.split()
    for args in ([*words, flag], [*words, flag, "1"], [*words, flag, "info"]):
        try:
            _parser().parse_args(args)
        except SystemExit:
            continue
        return True
    return False


def test_every_flag_the_serve_docs_and_the_readme_name_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/serve.md and README.md name ``daramjwee serve`` flags, and a few of ``daramjwee bench``: each exists."""
    documented = set()
    for name in ("docs/serve.md", "README.md"):
        documented |= _documented_flags((ROOT / name).read_text())
    assert {"--origin", "--max-target-length", "--max-connections", "--coordinate"} <= documented
    unknown = sorted(flag for flag in documented if not _accepts("serve", flag))
    assert not unknown, f"named in the docs, unknown to daramjwee serve: {unknown}"
    bench = [flag for flag, program in _OTHER_PROGRAMS.items() if program == "daramjwee bench"]
    assert all(_accepts("bench", flag) for flag in bench)
    cache = {flag: program for flag, program in _OTHER_PROGRAMS.items() if program.startswith("daramjwee cache ")}
    assert all(_accepts(program.removeprefix("daramjwee "), flag) for flag, program in cache.items())
    assert not _accepts("serve", "--no-such-flag"), "the check itself can fail"
    capsys.readouterr()  # argparse's complaints about the tries that needed a value


def test_every_setting_has_its_flag() -> None:
    """The TOML file and the flags hold the same settings under the same names (docs/serve.md#configuration)."""
    from daramjwee.server import ServeSettings  # noqa: PLC0415 (needs the serve extra)

    renamed = {"server_names": "--server-name"}
    for field in ServeSettings.__dataclass_fields__:
        assert _accepts("serve", renamed.get(field, f"--{field.replace('_', '-')}")), field
