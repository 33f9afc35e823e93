"""Helpers for driving the installed ``flowexec`` script on flows in temporary files."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("flowexec")
ROOT = Path(__file__).resolve().parents[3]

FLOWS = """
import json
import time
from pathlib import Path

from executor import Flow, Pause, Retry, loop, map_over, parallel, step, when

@step
def load(n: int) -> list[int]:
    return list(range(n))

def square(load: int) -> int:
    time.sleep(0.01)
    return load * load

@step(retry=Retry(attempts=3, backoff=0.01))
def flaky(load: list[int]) -> int:
    marker = Path("flaky.tries")
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    if tries % 2:
        raise ConnectionError("try again")
    return len(load)

def low(load: list[int]) -> int:
    return min(load)

def high(load: list[int]) -> int:
    return max(load)

@step
def total(squares: list[int], flaky: int, bounds: dict) -> int:
    return sum(squares) + flaky + bounds["high"]

@step(critical=True)
def report(total: int) -> str:
    return f"total={total}"

flow = Flow("demo", [load, map_over(square, over="load", name="squares"), flaky,
                     parallel("bounds", {"low": low, "high": high}), total, report])

@step
def boom(n: int) -> int:
    raise ValueError(f"bad n {n}")

broken = Flow("broken", [boom])

@step
def ask(n: int, approval: bool = False) -> int:
    if not approval:
        raise Pause("needs sign-off", awaiting="approval")
    return n * 10

@step
def after(ask: int) -> int:
    return ask + 1

gated = Flow("gated", [ask, after])

@step
def stamp(n: int) -> float:
    return time.time()

clock = Flow("clock", [stamp])

@step
def start(n: int) -> int:
    return n

def big(start: int) -> bool:
    return start > 2

def yes(start: int) -> str:
    return "big"

def no(start: int) -> str:
    return "small"

@step
def sum_up(load: list[int]) -> int:
    return sum(load)

inner = Flow("inner", [load, sum_up])

@step
def seed(start: int) -> int:
    return start

def halve(seed: int) -> int:
    return seed // 2

shapes = Flow("shapes", [
    start,
    when(big, yes, no, name="size"),
    seed,
    loop(halve, until=lambda v: v < 2, name="halving", max_iterations=20),
    inner.as_step(name="sub", inputs={"n": "start"}),
])

@step
def slow(n: int) -> int:
    time.sleep(0.4)
    return n

def item(slow: int) -> int:
    time.sleep(0.2)
    return slow

@step
def many(slow: int) -> list[int]:
    return list(range(6))

def each(many: int) -> int:
    time.sleep(0.15)
    return many

watched = Flow("watched", [slow, many, map_over(each, over="many", name="items")])
"""


@pytest.fixture
def project(tmp_path):
    """A folder holding flows.py, used as the working directory of the commands."""
    (tmp_path / "flows.py").write_text(textwrap.dedent(FLOWS))
    return tmp_path


# Values with an order, types JSON lacks and text that looks like markup: what the
# CLI shows of them must be the values themselves.
VALUES = """
import datetime
from executor import Flow, step

@step
def build(n: int, options: dict) -> dict:
    return {"zeta": n, "alpha": {"y": 1, "x": (1, 2)}, "on": datetime.date(2026, 1, 2)}

@step
def boom(text: str) -> str:
    raise ValueError(f"bad value [red]{text}[/red] in [b]")

shaped = Flow("shaped", [build])
loud = Flow("loud", [boom])
"""


@pytest.fixture
def values_project(tmp_path):
    (tmp_path / "values.py").write_text(textwrap.dedent(VALUES))
    return tmp_path


def measured(env):
    """``env`` plus what makes coverage (when this test run measures) measure the
    command's process too: the command is tested as users run it, in a subprocess.
    Only these subprocesses: other tests check what a bare interpreter imports."""
    try:
        import coverage
    except ImportError:  # pragma: no cover - coverage is a dev dependency
        return env
    current = coverage.Coverage.current()
    if current is None:
        return env
    data_file = Path(current.config.data_file)
    if not data_file.is_absolute():
        data_file = ROOT / data_file
    return {
        **env,
        "COVERAGE_PROCESS_START": str(ROOT / "pyproject.toml"),
        "COVERAGE_FILE": str(data_file),
    }


def flowexec(*args, cwd, check_code=None, env_extra=None, **kwargs):
    """Run the installed ``flowexec`` script; returns the CompletedProcess."""
    env = measured({**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env_extra or {})})
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        **kwargs,
    )
    if check_code is not None:
        assert done.returncode == check_code, (done.returncode, done.stdout, done.stderr)
    return done


def latest_id(cwd, flow=None):
    args = ["states", "list", "-q", "--limit", "1"] + (["--flow", flow] if flow else [])
    return flowexec(*args, cwd=cwd, check_code=0).stdout.strip()
