"""`import executor` loads only what defining a flow needs; the rest on first use."""

import json
import subprocess
import sys

import executor

# What a flow's definition never needs: asyncio and process pools (the engine's
# drivers), pluggy (hooks), SQLite and the cache and state packages, random (retry
# jitter) and traceback (failures).
HEAVY = (
    "random",
    "traceback",
    "asyncio",
    "sqlite3",
    "multiprocessing",
    "concurrent.futures",
    "pluggy",
    "executor.cache",
    "executor.state",
    "executor._core",
    "executor._composites",
    "executor._codec",
)


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_executor_loads_none_of_the_heavy_parts():
    loaded = _modules_after("import executor")
    assert "executor" in loaded
    assert sorted(loaded.intersection(HEAVY)) == []


def test_defining_steps_and_a_flow_loads_none_of_them_either():
    loaded = _modules_after(
        "from executor import Flow, Retry, step\n"
        "@step(retry=Retry(attempts=2), timeout=1.0)\n"
        "def load(n): return n\n"
        "@step\n"
        "def total(load): return load\n"
        "Flow('f', [load, total])"
    )
    assert sorted(loaded.intersection(HEAVY)) == []


def test_lazy_names_resolve_to_their_modules_objects():
    # In a fresh process: pytester sessions earlier in this worker restore
    # sys.modules when they end, so modules first imported inside one are imported
    # again later, and objects from before and after are rightly not the same.
    script = (
        "import executor\n"
        "from executor._composites import map_over\n"
        "from executor._core import ExecutorCore\n"
        "from executor._hooks import hookimpl\n"
        "assert executor.ExecutorCore is ExecutorCore\n"
        "assert executor.map_over is map_over\n"
        "assert executor.hookimpl is hookimpl\n"
        "assert set(executor.__all__) <= set(dir(executor))\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_lazy_name_works_first_thing_in_a_fresh_process():
    script = (
        "from executor import Flow, parallel, step\n"
        "@step\n"
        "def a(x): return x + 1\n"
        "@step\n"
        "def b(x): return x * 2\n"
        "print(Flow('f', [parallel('both', {'a': a, 'b': b})]).run(x=3)['both'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "{'a': 4, 'b': 6}"


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        executor.nope  # noqa: B018
