"""The conformance suite itself: installing ``http-cache-tests`` from npm, finding its files, reading its groups."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DIR_ENV",
    "SUITE_NAME",
    "SUITE_VERSION",
    "Group",
    "HarnessError",
    "Suite",
    "default_install_dir",
    "install_suite",
    "node_environment",
]

SUITE_NAME = "http-cache-tests"
SUITE_VERSION = "0.4.5"
DIR_ENV = "DARAMJWEE_HTTP_CACHE_TESTS_DIR"
"""Environment variable: the directory to install the suite into (an npm prefix), instead of the default."""

_HERE = Path(__file__).resolve().parent
GROUPS_SCRIPT = _HERE / "groups.mjs"
LOOPBACK_PRELOAD = _HERE / "loopback.cjs"
_INSTALL_TIMEOUT = 600.0


class HarnessError(RuntimeError):
    """The harness could not run (a tool missing, an install or a process that failed): not a conformance result."""


@dataclasses.dataclass(frozen=True)
class Group:
    """One of the suite's test groups (``id`` as in its ``tests/index.mjs``, e.g. ``cc-response``)."""

    id: str
    name: str
    tests: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Suite:
    """An installed copy of the suite: its package root and the files the harness runs.

    Two layouts are known: the npm package 0.4.5 (``cli.mjs``, ``server/server.mjs``)
    and the repository's later one (``test-engine/cli.mjs``, ``test-engine/server/server.mjs``).
    """

    root: Path
    version: str
    cli: Path
    server: Path
    config: dict[str, str]

    @classmethod
    def at(cls, root: Path) -> Suite:
        """The suite whose ``package.json`` is in ``root``; :class:`HarnessError` when it is not one."""
        try:
            package = json.loads((root / "package.json").read_text())
        except (OSError, ValueError) as error:
            raise HarnessError(f"{root} holds no readable package.json of {SUITE_NAME}: {error}") from None
        for engine in (root / "test-engine", root):
            cli, server = engine / "cli.mjs", engine / "server" / "server.mjs"
            if cli.is_file() and server.is_file():
                config = {str(key): str(value) for key, value in dict(package.get("config", {})).items()}
                return cls(root, str(package.get("version", "?")), cli, server, config)
        raise HarnessError(f"{root} has neither cli.mjs nor test-engine/cli.mjs: not a known {SUITE_NAME} layout")

    def groups(self) -> tuple[Group, ...]:
        """The suite's test groups, read by running ``groups.mjs`` (node) on it."""
        output = _run(["node", str(GROUPS_SCRIPT), str(self.root)], "reading the suite's test groups", timeout=60)
        raw: list[dict[str, Any]] = json.loads(output)
        return tuple(Group(str(item["id"]), str(item["name"]), tuple(map(str, item["tests"]))) for item in raw)


def default_install_dir() -> Path:
    """``$DARAMJWEE_HTTP_CACHE_TESTS_DIR``, else ``~/.cache/daramjwee/http-cache-tests-<version>``."""
    configured = os.environ.get(DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "daramjwee" / f"{SUITE_NAME}-{SUITE_VERSION}"


def install_suite(directory: Path | None = None) -> Suite:
    """The suite installed under ``directory`` (an npm prefix), running ``npm install`` first if it is not there.

    The install goes to a temporary sibling directory that is renamed into
    place once complete, so an interrupted or concurrent install never
    leaves a half-installed copy behind.  :class:`HarnessError` says what
    to install when node or npm is missing or the install fails.
    """
    directory = default_install_dir() if directory is None else directory
    root = directory / "node_modules" / SUITE_NAME
    if (directory / ".complete").is_file() or (root / "package.json").is_file():  # ours, or installed by hand
        try:
            return _checked(Suite.at(root))
        except HarnessError as error:
            raise HarnessError(f"{error}\n(remove {directory} to install {SUITE_NAME} {SUITE_VERSION} anew)") from None
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise HarnessError(
                f"{tool} is not on PATH; the HTTP conformance suite needs Node.js and npm: "
                "`apt-get install -y nodejs npm` (or `bash scripts/test.sh`, which installs them)"
            )
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        command = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(staging)]
        command.append(f"{SUITE_NAME}@{SUITE_VERSION}")
        try:
            _run(command, f"installing {SUITE_NAME}@{SUITE_VERSION} from npm", timeout=_INSTALL_TIMEOUT, cwd=staging)
        except HarnessError as error:
            raise HarnessError(
                f"{error}\nThe HTTP conformance suite is installed from the npm registry: this needs Node.js and "
                "npm (`apt-get install -y nodejs npm`) and access to the registry; or point "
                f"{DIR_ENV} at a directory where `npm install {SUITE_NAME}@{SUITE_VERSION}` has been run."
            ) from None
        _checked(Suite.at(staging / "node_modules" / SUITE_NAME))
        (staging / ".complete").write_text(f"{SUITE_NAME}@{SUITE_VERSION}\n")
        try:
            staging.rename(directory)
        except OSError as error:
            if not (directory / ".complete").is_file():  # not another install that finished first
                raise HarnessError(
                    f"cannot put the suite in {directory}: {error}; remove it, or set {DIR_ENV}"
                ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _checked(Suite.at(root))


def _checked(suite: Suite) -> Suite:
    if suite.version != SUITE_VERSION:
        raise HarnessError(f"{suite.root} holds {SUITE_NAME} {suite.version}, not the pinned {SUITE_VERSION}")
    return suite


def node_environment(suite: Suite, **settings: str) -> dict[str, str]:
    """The environment ``npm run`` would give the suite's scripts, with ``settings`` as ``--name=value`` options.

    The suite reads its settings as ``npm_config_<name>`` (command line)
    falling back to ``npm_package_config_<name>`` (``package.json``); an
    empty option such as ``id`` must be empty in both.
    """
    environment = {key: value for key, value in os.environ.items() if not key.lower().startswith("npm_")}
    config = {**suite.config, **settings}
    for key, value in config.items():
        environment[f"npm_package_config_{key}"] = value
    for key, value in settings.items():
        environment[f"npm_config_{key}"] = value
    return environment


def _run(command: list[str], what: str, *, timeout: float, cwd: Path | None = None) -> str:
    """Run ``command`` to completion; its standard output, or :class:`HarnessError` with its output's tail."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{what}: `{' '.join(command)}` did not finish in {timeout:.0f} s") from None
    except OSError as error:
        raise HarnessError(f"{what}: cannot run `{command[0]}`: {error}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-3000:]
        raise HarnessError(f"{what}: `{' '.join(command)}` exited with status {done.returncode}:\n{tail}")
    return done.stdout
