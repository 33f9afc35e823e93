"""Steps that hang, for the process-timeout tests; run as a script by them:
``python -m tests.executor.hanging_steps SCENARIO PIDFILE`` prints what the run did
as JSON and must then exit on its own."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from executor import Flow, Retry, StepFailed, map_over, step

PIDS = os.environ.get("FLOWEXEC_TEST_PIDS", "")


def note_pid(name: str) -> None:
    """Append ``name pid`` to the pid file: which processes ran which steps."""
    with open(PIDS, "a") as file:
        file.write(f"{name} {os.getpid()}\n")


# Two steps first, side by side, so that both workers are up (spawning one and
# importing the engine can take over a second on a loaded machine) before the
# timed steps start their clocks.
@step
def warm_a(n: int) -> int:
    note_pid("warm_a")
    time.sleep(0.3)
    return n


@step
def warm_b(n: int) -> int:
    note_pid("warm_b")
    time.sleep(0.3)
    return n


@step(timeout=1.0)
def hang(warm_a: int, warm_b: int) -> int:
    note_pid("hang")
    time.sleep(300)
    return warm_a


@step
def sibling(warm_a: int, warm_b: int) -> int:
    note_pid("sibling")
    time.sleep(1.5)  # still running when hang times out
    return warm_a + 1


# The retry runs on a new pool, whose worker has to start first: its clock
# includes that (over a second on a loaded machine).
@step(timeout=3.0, retry=Retry(attempts=2, backoff=0.0, retry_on=(TimeoutError,)))
def hang_once(warm_a: int, warm_b: int) -> int:
    note_pid("hang_once")
    flag = PIDS + ".hung"
    if not os.path.exists(flag):
        open(flag, "w").close()
        time.sleep(300)
    return warm_a * 10


@step(timeout=1.0)
def item(items: int, warm_a: int, warm_b: int) -> int:
    note_pid(f"item{items}")
    if items == 2:
        time.sleep(300)
    return items


@step
def other(others: int, warm_a: int, warm_b: int) -> int:
    note_pid(f"other{others}")
    time.sleep(0.3)
    return others


@step(timeout=3.0)  # longer than any wait behind the other map's calls in the queue
def patient(items: int, warm_a: int, warm_b: int) -> int:
    note_pid(f"patient{items}")
    if items == 2:
        time.sleep(300)
    return items


# The item that hangs (2) is sent first: its deadline comes before any other
# item's, however long the others wait in a loaded machine's queues.
HUNG_FIRST = [2, 0, 1, 3]


def scenario(name: str) -> dict[str, object]:
    if name == "queued":
        # Two maps side by side on a pool of two workers: the second map's calls
        # wait in the pool's queue when the first map's item 2 times out.
        flow = Flow(
            "two",
            [
                warm_a,
                warm_b,
                map_over(patient, name="each", map_executor="parallel", max_concurrency=2),
                map_over(other, over="others", map_executor="parallel", max_concurrency=2),
            ],
        )
        try:
            flow.run(
                n=4,
                items=HUNG_FIRST,
                others=list(range(20)),
                executor="threaded",
                max_concurrency=2,
            )
        except StepFailed as failed:
            steps = failed.result.steps
            return {
                "cause": type(failed.cause).__name__,
                "address": failed.address,
                "other": {a: r.status.value for a, r in steps.items() if a.startswith("two/other")},
                "outputs": failed.result.outputs.get("other"),
            }
        return {"cause": None}
    run: dict[str, Any] = {"n": 4, "executor": "parallel", "max_concurrency": 2}
    if name == "retry":
        result = Flow("again", [warm_a, warm_b, hang_once]).run(**run)
        return {"value": result["hang_once"], "attempts": result.steps["again/hang_once"].attempts}
    if name == "map":
        each = map_over(item, name="each", max_concurrency=2)
        flow = Flow("items", [warm_a, warm_b, each])
        run["items"] = HUNG_FIRST
    else:
        flow = Flow("hung", [warm_a, warm_b, hang, sibling])
    try:
        flow.run(**run)
    except StepFailed as failed:
        return {
            "cause": type(failed.cause).__name__,
            "address": failed.address,
            "statuses": {a: r.status.value for a, r in failed.result.steps.items()},
            "sibling": failed.result.outputs.get("sibling"),
            "sibling_attempts": getattr(failed.result.steps.get("hung/sibling"), "attempts", None),
        }
    return {"cause": None}


if __name__ == "__main__":
    print(json.dumps(scenario(sys.argv[1])), flush=True)
