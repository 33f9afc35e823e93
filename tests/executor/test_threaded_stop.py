"""When a run stops, a step that ran is never reported CANCELLED."""

import threading

from executor import Flow, StepFailed, StepStatus, map_over, step


def test_a_step_that_ran_is_not_reported_cancelled_when_the_run_stops():
    ran: set[int] = set()
    lock = threading.Lock()

    @step
    def item(items: int) -> int:
        with lock:
            ran.add(items)
        if items == 0:
            raise RuntimeError("stops the run")
        return items

    flow = Flow("m", [map_over(item, name="each")])
    for _ in range(10):  # the old race needed an item to end between two checks
        ran.clear()
        try:
            flow.run(items=list(range(50)), executor="threaded", max_concurrency=4)
        except StepFailed as failed:
            steps = failed.result.steps
        cancelled = {i for i in range(50) if steps[f"m/each[{i}]"].status is StepStatus.CANCELLED}
        assert not cancelled & ran, "steps that ran were reported as cancelled"
        assert all(steps[f"m/each[{i}]"].status is not StepStatus.SKIPPED for i in ran)
