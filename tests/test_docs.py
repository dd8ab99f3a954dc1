"""Every code block of README.md and docs/*.md does what the page says.

The blocks are found, not listed: a block added to any of these pages is
tested by the next run.

- **```python** blocks run one by one, each with ``python -c`` in a fresh
  subprocess, in an empty temporary directory, with the package's ``src`` on
  ``PYTHONPATH``, and must exit with 0 within ``TIMEOUT`` seconds.  A block
  must therefore run standalone: it starts whatever it talks to (a
  ``ThreadingHTTPServer`` on 127.0.0.1, a file in its temporary directory).
- **Shown output.**  When a python block is followed (blank lines aside) by a
  ```text block, that block is what the python block prints: its stdout must
  equal the text block exactly (each line's trailing spaces ignored).  A
  python block without one is checked only for its exit code (most state what
  they show with ``assert``).
- **Tests in a block.**  A python block that defines pytest tests (a
  top-level ``class Test...`` or ``def test_...``, such as a subclass of the
  store conformance suite) is also saved as a test module and run with
  pytest, whose tests must all pass.
- **```toml** blocks are ``daramjwee serve`` configuration files: each must
  load with :func:`daramjwee.server.load_settings`.
- **```bash** blocks name hosts, services and servers that do not exist here,
  so they are not run.  Each ``daramjwee ...`` command in them must parse with
  the command line's own parser, a ``python path/to/script.py`` or
  ``python -m module`` of this repository must name a file that exists, and a
  ``pip install`` of daramjwee must name extras that ``pyproject.toml`` defines.
- **```ini** blocks are systemd units: the command line of each ``ExecStart=``
  is checked like a bash block's.
- Other blocks (bare ones showing output or file layouts) are not checked.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from daramjwee._cli import _parser
from daramjwee.server import load_settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
TIMEOUT = 60
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[\w+-]*)[ \t]*$")
HEADING = re.compile(r"^#{1,6} +(.*)$")
ALIASES = {"py": "python", "python3": "python", "sh": "bash", "shell": "bash"}
"""Other names of the languages checked here (a ```py block is run like a ```python one)."""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: the page and line of its opening fence, the heading above it, its text."""

    page: str
    line: int
    heading: str
    language: str
    code: str
    output: str | None = None  # the ```text block right after it, if any (python blocks only)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line} ({self.heading})"


def blocks(text: str, page: str) -> list[Block]:
    """The fenced code blocks of the Markdown ``text``, in order, with each python block's shown output.

    Fences may be indented (a block inside a list item); the indentation is
    removed from the code.  An unclosed fence raises ``ValueError``.
    """
    lines = text.splitlines()
    found: list[Block] = []
    heading = "top"
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            if title := HEADING.match(lines[index]):
                heading = title.group(1).strip()
            index += 1
            continue
        indent, start = match.group("indent"), index
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{page}:{start + 1}: a code block is never closed")
        body = [line.removeprefix(indent) for line in lines[start + 1 : end]]
        language = ALIASES.get(match.group("language"), match.group("language"))
        found.append(Block(page, start + 1, heading, language, textwrap.dedent("\n".join(body)) + "\n"))
        index = end + 1
    return [_with_output(block, found[i + 1] if i + 1 < len(found) else None, text) for i, block in enumerate(found)]


def _with_output(block: Block, following: Block | None, text: str) -> Block:
    """``block`` with the output its page shows for it: a ```text block after it with only blank lines between."""
    if block.language != "python" or following is None or following.language != "text":
        return block
    lines = text.splitlines()
    closing = next(i for i in range(block.line, len(lines)) if lines[i].strip() == "```")
    if any(line.strip() for line in lines[closing + 1 : following.line - 1]):
        return block
    return dataclasses.replace(block, output=following.code)


def page_blocks(language: str) -> list[Block]:
    """Every block of ``language`` in README.md and docs/*.md."""
    return [
        block
        for page in PAGES
        for block in blocks(page.read_text(encoding="utf-8"), str(page.relative_to(ROOT)))
        if block.language == language
    ]


def _params(language: str) -> list[object]:
    return [pytest.param(block, id=block.id) for block in page_blocks(language)]


def _env() -> dict[str, str]:
    """The environment of a block's process: this one, with the package's ``src`` first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def _trimmed(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


@pytest.mark.parametrize("block", _params("python"))
def test_python_block_runs_and_prints_what_the_page_shows(block: Block, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{block.id} exited with {result.returncode}:\n{result.stderr}", pytrace=False)
    if block.output is not None:
        assert _trimmed(result.stdout) == _trimmed(block.output), f"{block.id} printed something else"


PYTEST_TESTS = re.compile(r"^(class Test\w*\b|def test_\w+\()", re.M)


@pytest.mark.parametrize(
    "block",
    [pytest.param(block, id=block.id) for block in page_blocks("python") if PYTEST_TESTS.search(block.code)],
)
def test_tests_a_python_block_defines_pass(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_block.py").write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_block.py"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"the tests of {block.id} failed:\n{result.stdout}{result.stderr}", pytrace=False)
    assert " passed" in result.stdout


@pytest.mark.parametrize("block", _params("toml"))
def test_toml_block_is_a_serve_configuration_that_loads(block: Block, tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(block.code, encoding="utf-8")
    settings = load_settings(config, {})
    assert settings.origin


def _commands(script: str) -> list[list[str]]:
    """The simple commands of a shell snippet: continuations joined, comments dropped, split at ``&&``, ``;``, ``|``."""
    commands: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command: list[str] = []
        for token in lexer:
            if token and set(token) <= set(";&|"):
                commands.append(command)
                command = []
            else:
                command.append(token)
        commands.append(command)
    return [_without_assignments(command) for command in commands if _without_assignments(command)]


def _without_assignments(command: list[str]) -> list[str]:
    """``command`` without its leading ``NAME=value`` environment assignments."""
    index = 0
    while index < len(command) and re.fullmatch(r"[A-Za-z_]\w*=.*", command[index]):
        index += 1
    return command[index:]


def _extras() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return set(project["optional-dependencies"])


def _check_command(command: list[str]) -> None:
    program, arguments = Path(command[0]).name, command[1:]
    if program == "daramjwee":
        try:
            _parser().parse_args(arguments)
        except SystemExit as error:
            pytest.fail(f"`{shlex.join(command)}` does not parse (exit {error.code})")
    elif program in {"python", "python3"} and arguments[:2] == ["-m", "pip"]:
        _check_pip(arguments[2:])
    elif program == "pip":
        _check_pip(arguments)
    elif program in {"python", "python3"} and arguments[:1] == ["-m"]:
        module = arguments[1].replace(".", "/")
        if module.split("/")[0] in {"tests", "scripts", "examples"}:
            assert (ROOT / f"{module}.py").is_file() or (ROOT / module / "__main__.py").is_file(), command
    elif program in {"python", "python3", "bash"} and arguments and arguments[0].endswith((".py", ".sh")):
        assert (ROOT / arguments[0]).is_file(), f"`{shlex.join(command)}`: no {arguments[0]} in the repository"


def _check_pip(arguments: list[str]) -> None:
    for argument in arguments:
        named = re.fullmatch(r"(?:daramjwee|\.)\[([\w,-]+)\]", argument)
        if named is not None:
            unknown = set(named.group(1).split(",")) - _extras()
            assert not unknown, f"pip install {argument}: pyproject.toml has no extra {sorted(unknown)}"


@pytest.mark.parametrize("block", _params("bash"))
def test_bash_block_names_commands_that_exist(block: Block) -> None:
    commands = _commands(block.code)
    assert commands, f"{block.id} is empty"
    for command in commands:
        _check_command(command)


@pytest.mark.parametrize("block", _params("ini"))
def test_ini_block_starts_commands_that_parse(block: Block) -> None:
    for line in block.code.splitlines():
        if line.startswith("ExecStart="):
            for command in _commands(line.removeprefix("ExecStart=")):
                _check_command(command)


def test_every_page_with_python_blocks_is_collected() -> None:
    pages = {block.page for block in page_blocks("python")}
    expected = {
        str(page.relative_to(ROOT))
        for page in PAGES
        if re.search(r"^\s*```(python|py|python3)\s*$", page.read_text(), re.M)
    }
    assert pages == expected
    assert "README.md" in pages


def test_the_collector_finds_indented_blocks_and_their_shown_output() -> None:
    page = textwrap.dedent(
        """\
        # Title
        ## Section
        - a list item:

          ```python
          print("hi")
          ```

        ```text
        hi
        ```

        ```py
        x = 1
        ```
        Some prose.
        ```text
        not this block's output
        ```
        """
    )
    found = blocks(page, "page.md")
    assert [(block.language, block.line, block.heading) for block in found] == [
        ("python", 5, "Section"),
        ("text", 9, "Section"),
        ("python", 13, "Section"),
        ("text", 17, "Section"),
    ]
    assert found[0].code == 'print("hi")\n'
    assert found[0].output == "hi\n"
    assert found[2].output is None
    with pytest.raises(ValueError, match="never closed"):
        blocks("```python\nx = 1\n", "page.md")


def test_shell_commands_are_split_and_checked() -> None:
    assert _commands("A=1 python3 -m pip install -e '.[cli]' && daramjwee demo  # run it\nx \\\n  y | z\n") == [
        ["python3", "-m", "pip", "install", "-e", ".[cli]"],
        ["daramjwee", "demo"],
        ["x", "y"],
        ["z"],
    ]
    _check_command(["daramjwee", "serve", "--origin", "https://example.com", "--port", "8080"])
    with pytest.raises(pytest.fail.Exception, match="does not parse"):
        _check_command(["daramjwee", "serve", "--no-such-flag"])
    with pytest.raises(AssertionError, match="no extra"):
        _check_command(["pip", "install", "daramjwee[nonexistent]"])
    with pytest.raises(AssertionError, match=r"no scripts/missing\.py"):
        _check_command(["python", "scripts/missing.py"])
