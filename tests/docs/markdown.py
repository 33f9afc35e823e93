"""Run the code blocks of a Markdown page the way its reader would.

The convention (the same for README.md and every docs/*.md page):

- ```` ```python ```` blocks run, in order, in one namespace per page, with a fresh
  temporary directory per page as the working directory (and on ``sys.path``).
  Top-level ``await`` works, as in the asyncio REPL.
- ```` ```LANG file=NAME ```` blocks are not run but written to ``NAME`` in that
  directory, for modules, tests and config files that later blocks use.
- ```` ```bash ```` and ```` ```console ```` blocks: each command runs there with
  bash, the running Python's scripts (python, pytest, flowexec) first on ``PATH``,
  and must exit 0. In console blocks commands start with ``$ `` and the lines up to
  the next command are its expected output: compared line by line with what it
  printed; ``...`` inside a line matches any text, a line of just ``...`` any lines.
- Blocks not meant to run say so: ```` ```text ````, or the word ``fragment`` in the
  info string (```` ```python fragment ````, ```` ```bash fragment ````,
  ```` ```ini fragment ````).

Every other block is an error: a block nobody runs is a block that rots.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

RUN = {"python", "bash", "console"}
TEXT = {"text"}
FENCE = re.compile(r"^(`{3,})(.*)$")
COMMAND_TIMEOUT = 300.0


class DocBlockError(AssertionError):
    """A block did not do what its page says; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Block:
    path: Path
    """The page, absolute (tracebacks read the page's lines from it)."""
    name: str
    """The page as messages name it, e.g. ``docs/usage.md``."""
    line: int
    """Line of the opening fence (1-based): the code starts on the next line."""
    language: str
    options: tuple[str, ...]
    code: str
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.name}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.file is None and "fragment" not in self.options and self.language in RUN


def parse(path: Path, name: str | None = None) -> list[Block]:
    """Every fenced block of a page, in order. Indented fences (inside lists) count too."""
    path = path.resolve()
    name = name or str(path)
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index].lstrip())
        if not match:
            index += 1
            continue
        fence, info = match.group(1), match.group(2).split()
        indent = len(lines[index]) - len(lines[index].lstrip())
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        if index == len(lines):
            raise DocBlockError(f"{name}:{start + 1}: this code block is never closed")
        index += 1
        language = info[0] if info else ""
        options = tuple(info[1:])
        file = next((o.split("=", 1)[1] for o in options if o.startswith("file=")), None)
        code = "\n".join(body) + "\n"
        found.append(Block(path, name, start + 1, language, options, code, file))
    return found


def check_marked(block: Block) -> None:
    """A block that does not run must say why, so a forgotten one never passes silently."""
    if block.runs or block.file is not None or "fragment" in block.options:
        return
    if block.language in TEXT:
        return
    said = f"```{block.language}" if block.language else "``` (no language)"
    raise DocBlockError(
        f"{block.where}: {said} is neither run nor marked: use ```python, ```bash or "
        f"```console to run it, ```LANG file=NAME to write it, or ```text / "
        f"```{block.language or 'python'} fragment for what is not meant to run"
    )


@dataclass
class Page:
    """One page's run: its namespace and its working directory."""

    path: Path
    workdir: Path
    name: str | None = None
    """How messages name the page; its absolute path by default."""
    namespace: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        module = types.ModuleType("markdown_" + re.sub(r"\W", "_", self.path.stem))
        module.__file__ = str(self.path)
        self.module = module
        self.namespace = module.__dict__

    def run(self) -> None:
        __tracebackhide__ = True  # pytest shows the page's frames, not the runner's
        blocks = parse(self.path, self.name)
        for block in blocks:
            check_marked(block)
        for block in blocks:
            if block.file is not None:
                target = self.workdir / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code)
            elif block.runs and block.language == "python":
                self.run_python(block)
            elif block.runs:
                self.run_commands(block)

    def run_python(self, block: Block) -> None:
        __tracebackhide__ = True
        # Padding puts each statement on its line of the page: tracebacks show the page.
        source = "\n" * block.line + block.code
        code = compile(
            source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        sys.modules[self.module.__name__] = self.module  # dataclasses and pickle look here
        try:
            if code.co_flags & inspect.CO_COROUTINE:  # the block awaits at top level
                asyncio.run(eval(code, self.namespace))
            else:
                exec(code, self.namespace)
        except BaseException as error:
            if hasattr(error, "add_note"):  # Python 3.11+; the traceback names the page anyway
                error.add_note(f"in the python block at {block.where}")
            raise
        finally:
            sys.modules.pop(self.module.__name__, None)

    def run_commands(self, block: Block) -> None:
        for line, command, expected in commands(block):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=self.workdir,
                env=command_env(),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            where = f"{block.name}:{line}: $ {command}"
            if done.returncode != 0:
                raise DocBlockError(
                    f"{where}\nexited {done.returncode}\n--- stdout\n{done.stdout}"
                    f"--- stderr\n{done.stderr}"
                )
            if expected is not None and not output_matches(expected, done.stdout.splitlines()):
                raise DocBlockError(
                    f"{where}\nprinted other output than the page shows\n--- expected\n"
                    + "\n".join(expected)
                    + f"\n--- printed\n{done.stdout}--- stderr\n{done.stderr}"
                )


def commands(block: Block) -> list[tuple[int, str, list[str] | None]]:
    """(page line, command, expected output or None) for each command of a block."""
    found: list[tuple[int, str, list[str] | None]] = []
    lines = block.code.splitlines()
    index = 0
    while index < len(lines):
        line_no = block.line + 1 + index
        text = lines[index]
        if block.language == "console":
            if not text.startswith("$ "):
                raise DocBlockError(
                    f"{block.name}:{line_no}: output before any `$ ` command in a console block"
                )
            text = text[2:]
        index += 1
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        while text.endswith("\\") and index < len(lines):
            text = text[:-1] + lines[index]
            index += 1
        expected: list[str] | None = None
        if block.language == "console":
            expected = []
            while index < len(lines) and not lines[index].startswith("$ "):
                expected.append(lines[index])
                index += 1
        found.append((line_no, text, expected))
    return found


def output_matches(expected: list[str], printed: list[str]) -> bool:
    """Line by line; ``...`` in a line matches any text, a line ``...`` any lines."""
    want = [line.rstrip() for line in expected]
    while want and not want[-1]:
        want.pop()
    have = [line.rstrip() for line in printed]
    while have and not have[-1]:
        have.pop()

    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(have)
        if want[i] == "...":
            return any(match(i + 1, k) for k in range(j, len(have) + 1))
        if j == len(have):
            return False
        return _line_matches(want[i], have[j]) and match(i + 1, j + 1)

    return match(0, 0)


def _line_matches(want: str, have: str) -> bool:
    """``want`` with each ``...`` matching any text. In a run of more than three dots
    the ellipsis may be its first three or its last three (``x....`` is ``x`` and
    ``.`` around one, or ``x.`` before one): either reading may match."""
    for parts in (want.split("..."), re.split(r"\.\.\.(?!\.)", want)):
        if re.fullmatch(".*".join(re.escape(part) for part in parts), have) is not None:
            return True
    return False


def command_env() -> dict[str, str]:
    """The reader's shell: this Python's scripts first on PATH, none of the outer
    test run's own variables (xdist worker ids, coverage hooks)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_")) and key != "PYTHONPATH"
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
