"""What the CLI prints is the text itself: user text never taken for markup, no
trailing spaces when piped."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from executor._cli._console import TrimmedLines

from .conftest import flowexec, latest_id


def test_user_text_is_printed_as_is_not_as_markup(values_project):
    failed = flowexec(
        "run", "values.py:loud", "-i", "text=[bold]hi", cwd=values_project, check_code=1
    )
    out = flowexec("states", "show", latest_id(values_project), cwd=values_project, check_code=0)
    assert 'inputs   {"text": "[bold]hi"}' in out.stdout  # was {"text": "hi"}
    assert "ValueError: bad value [red][bold]hi[/red] in [b]" in out.stdout
    assert "bad value [red][bold]hi[/red] in [b]" in failed.stderr


def test_piped_output_has_no_trailing_spaces(values_project):
    outputs = [
        flowexec("run", "values.py:shaped", "-i", "n=1", "-i", "options={}",
                 cwd=values_project, check_code=0).stdout,
        flowexec("states", "list", cwd=values_project, check_code=0).stdout,
        flowexec("states", "show", latest_id(values_project), cwd=values_project,
                 check_code=0).stdout,
    ]  # fmt: skip
    for out in outputs:
        assert "┃" in out or "│" in out  # a table was printed
        assert [line for line in out.splitlines() if line != line.rstrip(" ")] == []


@given(pieces=st.lists(st.text(alphabet=" ab\n│", max_size=8), max_size=8))
def test_trimmed_lines_trim_text_written_in_any_pieces(pieces):
    target = io.StringIO()
    stream = TrimmedLines(target)
    for piece in pieces:
        stream.write(piece)
    whole = "".join(pieces)
    # Every line loses its trailing spaces, and nothing else changes (a last line
    # without a newline loses them too: nothing follows them).
    assert target.getvalue() == "\n".join(line.rstrip(" ") for line in whole.split("\n"))
