"""Every code block of README.md and docs/*.md runs (see tests/docs/markdown.py for the
convention); a new page is picked up by the glob, nothing to register."""

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.docs.markdown import DocBlockError, Page, output_matches, parse

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def run_page(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Page:
    """Run one page in ``workdir``; modules it wrote and imported are forgotten after."""
    __tracebackhide__ = True  # a failure shows the page's line, not the runner's
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    before = set(sys.modules)
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    page = Page(path, workdir, name)
    try:
        page.run()
    finally:
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(str(workdir)):
                del sys.modules[name]
    return page


# Pages that show behaviour another branch of issue 10 is fixing right now. Each entry
# expects that exact failure: once the fix lands, "DID NOT RAISE" says to delete it.
AWAITING_FIX: dict[str, tuple[str, str]] = {}


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_block_of_the_page_runs(path, tmp_path, monkeypatch):
    name = path.relative_to(ROOT).as_posix()
    if name not in AWAITING_FIX:
        failure = None
        try:
            run_page(path, tmp_path, monkeypatch)
        except DocBlockError as error:  # the message names file:line; our frames add nothing
            failure = str(error)
        if failure:
            pytest.fail(failure, pytrace=False)
        return
    failure, reason = AWAITING_FIX[name]
    with pytest.raises(DocBlockError, match=re.escape(failure)):
        run_page(path, tmp_path, monkeypatch)
    pytest.xfail(reason)


def test_no_page_installs_flowexec_from_a_package_index():
    # flowexec is not published: `pip install flowexec` fails (or installs a stranger's).
    for path in PAGES:
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"pip install (-U )?flowexec\b", line), f"{path}:{line_no}"


def test_every_docs_page_is_collected():
    assert {p.name for p in PAGES} >= {"README.md", "usage.md", "testing.md", "composites.md"}
    assert len(PAGES) == 1 + len(list((ROOT / "docs").glob("*.md")))


# -- what the README promises --------------------------------------------------------


def test_install_and_test_commands_lead_the_readme():
    first = parse(ROOT / "README.md")[0]
    assert first.language == "bash" and "fragment" in first.options  # CI runs it, not us
    commands = [line.split("#")[0].strip() for line in first.code.splitlines()]
    assert commands == ['python -m pip install -e ".[dev]"', "python -m pytest -n 2 --cov"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(command in ci for command in commands)


def test_readme_shows_what_its_programs_print():
    # The console blocks carry the printed lines; the collector compares them.
    consoles = [b for b in parse(ROOT / "README.md") if b.language == "console"]
    shown = "".join(b.code for b in consoles)
    assert "$ python report.py\n61\n1\ncompleted ...s\n" in shown
    assert "$ python approve.py\nawaiting approval\nsent replayed\ncompleted\n" in shown


# -- the collector itself ------------------------------------------------------------


def write_page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_python_blocks_share_a_namespace_and_files_are_written(tmp_path, monkeypatch):
    page = write_page(
        tmp_path,
        "```python file=helper.py\nVALUE = 41\n```\n\n"
        "```python\nfrom helper import VALUE\nanswer = VALUE + 1\n```\n\n"
        "```python\nimport asyncio\nawait asyncio.sleep(0)\nassert answer == 42\n```\n\n"
        "```console\n$ cat helper.py\nVALUE = 41\n$ echo a b\na ...\n```\n",
    )
    work = tmp_path / "work"
    work.mkdir()
    ran = run_page(page, work, monkeypatch)
    assert ran.namespace["answer"] == 42
    assert (work / "helper.py").read_text() == "VALUE = 41\n"
    assert "helper" not in sys.modules


def test_a_failing_python_block_points_at_its_line_of_the_page(tmp_path, monkeypatch):
    page = write_page(tmp_path, "# Title\n\n```python\nx = 1\nraise ValueError(x)\n```\n")
    with pytest.raises(ValueError) as info:
        run_page(page, tmp_path, monkeypatch)
    frame = info.traceback[-1]
    assert (Path(frame.path).name, frame.lineno + 1) == ("page.md", 5)
    assert "in the python block at page.md:3" in info.value.__notes__


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("```bash\ntrue\nfalse\n```\n", "page.md:3: $ false\nexited 1"),
        ("```console\n$ echo hi\nho\n```\n", "page.md:2: $ echo hi\nprinted other output"),
        ("```\nplain\n```\n", "page.md:1: ``` (no language) is neither run nor marked"),
        ("```yaml\nk: v\n```\n", "page.md:1: ```yaml is neither run nor marked"),
        ("```ini\n[pytest]\n```\n", "page.md:1: ```ini is neither run nor marked"),
        ("```console\nhi\n```\n", "page.md:2: output before any `$ ` command"),
        ("```python\nx = 1\n", "page.md:1: this code block is never closed"),
    ],
)
def test_a_block_that_fails_or_is_unmarked_is_named_by_file_and_line(
    tmp_path, monkeypatch, block, message
):
    page = write_page(tmp_path, block)
    with pytest.raises(DocBlockError) as info:
        run_page(page, tmp_path, monkeypatch)
    assert message in str(info.value)


def test_unmarked_blocks_fail_before_anything_runs(tmp_path, monkeypatch):
    page = write_page(tmp_path, "```bash\ntouch ran\n```\n\n```\nno language\n```\n")
    with pytest.raises(DocBlockError):
        run_page(page, tmp_path, monkeypatch)
    assert not (tmp_path / "ran").exists()


def test_fragments_and_text_do_not_run(tmp_path, monkeypatch):
    page = write_page(
        tmp_path,
        "```python fragment\nraise SystemExit\n```\n```bash fragment\nexit 1\n```\n"
        "```text\n$ anything\n```\n```ini fragment\n[pytest]\n```\n",
    )
    assert run_page(page, tmp_path, monkeypatch).namespace.get("__name__") == "markdown_page"


@pytest.mark.parametrize(
    ("expected", "printed", "matches"),
    [
        (["a", "b"], ["a", "b", ""], True),
        (["a", "b"], ["a"], False),
        (["completed ...s"], ["completed 0.012s"], True),
        (["completed ...s"], ["failed 0.012s"], False),
        (["first", "...", "last"], ["first", "x", "y", "last"], True),
        (["first", "...", "last"], ["first", "last"], True),
        (["first", "...", "last"], ["first", "x"], False),
        (["a.b"], ["axb"], False),
    ],
)
def test_console_output_matching(expected, printed, matches):
    assert output_matches(expected, printed) is matches


printed_lines = st.lists(
    st.text(st.characters(blacklist_categories=["Cs", "Zl", "Zp", "Cc"]), max_size=12).filter(
        lambda line: "..." not in line and line == line.rstrip()
    ),
    max_size=5,
).filter(lambda lines: not lines or lines[-1])  # trailing blank lines are not output


@given(printed=printed_lines, data=st.data())
def test_output_shown_literally_or_elided_matches_what_was_printed(printed, data):
    assert output_matches(printed, printed)
    if printed:
        i = data.draw(st.integers(0, len(printed) - 1))
        line = printed[i]
        start = data.draw(st.integers(0, len(line)))
        end = data.draw(st.integers(start, len(line)))
        elided = [*printed[:i], line[:start] + "..." + line[end:], *printed[i + 1 :]]
        assert output_matches(elided, printed)
        assert not output_matches([*printed, "one line more"], printed)


# -- paths a page names --------------------------------------------------------------

PATH_IN_BACKTICKS = re.compile(r"`([\w.-]+(?:/[\w.-]+)*/(?:[\w.-]+\.(?:py|md|toml|json|txt))?)`")
# exist once a run wrote them
WRITTEN_BY_FLOWEXEC = (".flowexec/", "fixtures/recordings/", "fixtures/regression/")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_repository_file_a_page_names_exists(path):
    text = path.read_text()
    written = {b.file for b in parse(path) if b.file}
    missing = []
    for line_no, line in enumerate(text.splitlines(), 1):
        for named in PATH_IN_BACKTICKS.findall(line):
            if named.startswith(WRITTEN_BY_FLOWEXEC) or any(
                named == w or w.startswith(named) for w in written
            ):
                continue  # a file the page itself writes (a downstream project's)
            if not (ROOT / named).exists():
                missing.append(f"{path.relative_to(ROOT)}:{line_no}: `{named}`")
        for target in LINK.findall(line):
            if "://" not in target and not (path.parent / target).exists():
                missing.append(f"{path.relative_to(ROOT)}:{line_no}: link {target}")
    assert missing == [], "name files that are in the repository"
