"""Recordings are files people commit: they get the umask's mode, as the rest of a
checkout does (0644 under the usual umask 022), not a private 0600."""

import os
import stat

import pytest

TESTS = """
    import app

    def test_report():
        app.report.run(url="https://example.org")
"""


@pytest.fixture(params=[0o022, 0o007], ids=["umask022", "umask007"])
def umask(request):
    old = os.umask(request.param)  # a pytest run in a subprocess inherits it
    yield request.param
    os.umask(old)


def test_recordings_follow_the_umask(umask, run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=rewrite").assert_outcomes(passed=1)
    path = pytester.path / "fixtures" / "recordings" / "test_app" / "test_report.json"
    assert oct(stat.S_IMODE(path.stat().st_mode)) == oct(0o666 & ~umask)
