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
            return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", *args)
        return pytester.runpytest("-p", "no:cacheprovider", *args)

    go.xdist = bool(extra)
    return go


def calls(pytester):
    log = pytester.path / "calls.log"
    return log.read_text().split() if log.exists() else []
