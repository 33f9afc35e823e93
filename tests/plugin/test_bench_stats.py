"""Benchmark statistics, thresholds and baselines (the arithmetic under flow_benchmark)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_flowexec import _bench_stats as bench


def test_stats_of_known_rounds():
    stats = bench.Stats.of([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (stats.rounds, stats.min, stats.max, stats.median, stats.mean) == (5, 1, 5, 3, 3)
    assert stats.iqr == 2.0  # quartiles 2 and 4
    assert stats.ops == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no rounds"):
        bench.Stats.of([])


@given(st.lists(st.floats(min_value=1e-9, max_value=10.0), min_size=1, max_size=50))
def test_stats_are_ordered(times):
    stats = bench.Stats.of(times)
    assert stats.min <= stats.median <= stats.max
    assert stats.min <= stats.mean * (1 + 1e-12) and stats.mean <= stats.max * (1 + 1e-12)
    assert 0 <= stats.iqr <= stats.max - stats.min + 1e-12


def test_step_keys_fold_items_and_iterations_and_breakdown_takes_medians():
    assert bench.step_key("f/m[12]/x#3") == "f/m[*]/x#*"
    rounds = [{"a": 1.0, "b": 4.0}, {"a": 3.0}, {"a": 2.0, "b": 2.0}]
    assert bench.breakdown(rounds) == {"a": 2.0, "b": 2.0}  # b: 4, 0, 2


def test_threshold_parse_and_messages_name_everything():
    threshold = bench.Threshold.parse("median:10%")
    assert str(threshold) == "median:10%"
    base = bench.Stats.of([0.010] * 3)
    assert threshold.check("t", base, bench.Stats.of([0.0105] * 3), "base") is None
    message = threshold.check("t::x", base, bench.Stats.of([0.012] * 3), "base")
    assert message == (
        "benchmark t::x: median 12 ms against 10 ms in baseline 'base' (+20.0% slower); "
        "threshold median:10%"
    )
    ops = bench.Threshold.parse("ops:5%")
    assert "fewer" in ops.check("t", base, bench.Stats.of([0.02] * 3), "b")
    seconds = bench.Threshold.parse("min:0.001")
    assert seconds.check("t", base, bench.Stats.of([0.0109] * 3), "b") is None
    assert seconds.check("t", base, bench.Stats.of([0.0111] * 3), "b") is not None
    for bad in ("median", "fastest:1%", "median:x%", "median:-1"):
        with pytest.raises(ValueError, match="flow-benchmark-compare-fail"):
            bench.Threshold.parse(bad)


def test_baselines_round_trip_with_machine_info(tmp_path):
    result = bench.Result("t::a", "g", "f", bench.Stats.of([1.0, 2.0]), {"f/a": 1.5}, 1)
    path = bench.baseline_path(tmp_path, "base")
    path.parent.mkdir(parents=True)
    path.write_text(bench.dump([result], side_by_side=1, tracing=False))
    assert bench.load(path) == {"t::a": result}
    assert json.loads(path.read_text())["machine"]["python"]
    path.write_text("{}")
    with pytest.raises(bench.BaselineError, match="not a version 1"):
        bench.load(path)
    with pytest.raises(ValueError, match="becomes a file name"):
        bench.baseline_path(tmp_path, "../up")
