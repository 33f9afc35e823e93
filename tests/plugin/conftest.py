import pytest

APP = """
import random
import time
from executor import Flow, step, map_over

@step
def fetch(url: str) -> dict:
    with open("calls.log", "a") as log:
        log.write(url + "\\n")
    return {"url": url, "rows": [random.randint(0, 99) for _ in range(3)], "at": time.time()}

@step
def parse(fetch: dict) -> int:
    return sum(fetch["rows"])

report = Flow("report", [fetch, parse])

@step
def shout(items: str) -> str:
    return items.upper()

many = Flow("many", [map_over(shout)])
"""


@pytest.fixture(params=[[], ["-n", "2"]], ids=["plain", "xdist"])
def run(request, pytester):
    """Run pytest on the test project, in-process or with xdist, with the app module."""
    pytester.makepyfile(app=APP)
    pytester.makeini("[pytest]\n")
    extra = request.param

    def go(*args):
        if extra:
            # hypothesis' own pytest plugin imports all of hypothesis at the end of
            # every process of a session (controller and each xdist worker): 0.3 s
            # each on a quiet machine, several seconds on a loaded CI box, times 60
            # xdist sessions. These test projects use no hypothesis, so it is left out;
            # the determinism marker's sessions, which do, keep it.
            return pytester.runpytest_subprocess(
                *extra, "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args
            )
        return pytester.runpytest("-p", "no:cacheprovider", *args)

    go.xdist = bool(extra)
    return go


def calls(pytester):
    log = pytester.path / "calls.log"
    return log.read_text().split() if log.exists() else []
