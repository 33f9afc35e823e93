"""Golden file locations, text and comparison (the parts under the flow_regression plugin)."""

import decimal
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.testing import encode_value
from pytest_flowexec import _golden as golden

ROOT = Path("/repo")


def where(test, check=None, cls=None, module="tests/test_x.py"):
    return golden.location(ROOT, "fixtures/regression", ROOT / module, cls, test, check)


def test_location_is_module_folder_then_test_then_check():
    assert where("test_a") == ROOT / "fixtures/regression/tests/test_x/test_a.json"
    assert where("test_a[1-2]", "total").name == "test_a[1-2].total.json"
    assert where("test_a", cls="TestSuite").name == "TestSuite.test_a.json"
    assert where("test_a", module="tests/sub/test_x.py").parent.name == "test_x"


@given(st.lists(st.text(min_size=1, max_size=400), min_size=2, max_size=6, unique=True))
def test_distinct_test_ids_never_share_a_file(ids):
    paths = {where(f"test_k[{i}]") for i in ids}
    assert len(paths) == len(ids)
    assert all(len(p.name) <= 120 and p.name.count(".") == 1 for p in paths)


def test_owners_recover_the_test_part():
    path = where("test_a", "total", cls="TestSuite")
    assert golden.owners(path) == ["TestSuite", "TestSuite.test_a", "TestSuite.test_a.total"]
    assert golden.obtained_path(path).name == "TestSuite.test_a.total.obtained.json"


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=12,
)


@given(values)
def test_a_value_equals_its_own_golden_file(value):
    encoded = encode_value(value)
    text = golden.text("t", encoded)
    assert text == golden.text("t", json.loads(text)["value"])  # stable text
    kept = json.loads(text)["value"]
    assert list(golden.compare(kept, encoded, "value", golden.Tolerances(None))) == []


@given(values, values)
def test_any_difference_is_found(a, b):
    left, right = encode_value(a), encode_value(b)
    found = list(golden.compare(left, right, "value", golden.Tolerances(None)))
    assert bool(found) == (golden.text("t", left) != golden.text("t", right))


def test_tolerances_longest_pattern_wins_and_refuse_nonsense():
    tolerances = golden.Tolerances({"r/*": 1.0, "r/total": golden.Tolerance(rel=0.1)})
    assert tolerances.at("r/total") == golden.Tolerance(rel=0.1)
    assert tolerances.at("r/other['x']") == golden.Tolerance(abs=1.0)
    assert tolerances.at("q/total") is None
    assert golden.Tolerance(abs=0.5).allows(decimal.Decimal("1.0"), decimal.Decimal("1.4"))
    with pytest.raises(TypeError, match="a tolerance is a number"):
        golden.Tolerances({"x": "1%"})
    with pytest.raises(ValueError, match="not negative"):
        golden.Tolerance(abs=-1)


def test_golden_text_is_the_same_under_any_hash_seed(tmp_path):
    script = (
        "from executor.testing import encode_value; from pytest_flowexec import _golden as g; "
        "print(g.text('t', encode_value({'s': {'a', 'b', 'c', 'd'}, 'f': frozenset('xyz')})))"
    )
    texts = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("0", "1", "2")
    }
    assert len(texts) == 1


def test_reading_a_damaged_or_foreign_file_names_it(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("{")
    with pytest.raises(golden.GoldenFileError, match=r"g\.json.*not valid JSON.*--flow-regen"):
        golden.read(path)
    path.write_text('{"format": "flowexec-golden", "version": 99}')
    with pytest.raises(golden.GoldenFileError, match="version 99"):
        golden.read(path)
