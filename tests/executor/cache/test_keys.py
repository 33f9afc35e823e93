import copy
import dataclasses
import datetime as dt
import decimal
import enum
import io
import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import CacheKeyError, step
from executor.cache import CacheKeyGenerator, call_key, step_identity
from tests.executor import steps
from tests.plugin import key_steps

KEYS = CacheKeyGenerator()


def key(value, s=steps.double):
    return KEYS.key(s, {"value": value})


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(), max_size=4)
    ),
    max_leaves=16,
)


@given(values)
def test_same_value_same_key(value):
    assert key(value) == key(copy.deepcopy(value))


@given(st.dictionaries(st.text(), st.integers(), min_size=2, max_size=8), st.randoms())
def test_dict_order_never_matters(mapping, random):
    items = list(mapping.items())
    random.shuffle(items)
    assert key(dict(items)) == key(mapping)


@given(st.sets(st.text(), min_size=2, max_size=8), st.randoms())
def test_set_order_never_matters(items, random):
    shuffled = list(items)
    random.shuffle(shuffled)
    assert key(set(shuffled)) == key(items)
    assert key(frozenset(shuffled)) == key(frozenset(items))


@given(st.lists(values, min_size=2, max_size=6, unique_by=lambda v: KEYS.encode(v, "t", "v")))
def test_distinct_typed_values_give_distinct_keys(distinct):
    assert len({key(v) for v in distinct}) == len(distinct)


@pytest.mark.parametrize(
    "group",
    [
        [1, 1.0, True, "1", b"1", decimal.Decimal(1), [1], (1,), {1}, frozenset({1}), {1: 1}],
        [0, 0.0, -0.0, False, None, "", b"", [], (), set(), {}],
        [[1, 2], (1, 2), [2, 1], [[1], 2], [1, [2]]],
        ["ab", ["a", "b"], ("a", "b"), "abc"],
    ],
)
def test_types_and_shapes_are_told_apart(group):
    assert len({key(v) for v in group}) == len(group)


def test_documented_float_choices():
    assert key(0.0) != key(-0.0)
    assert key(math.nan) == key(float("nan")) == key(-math.nan)
    assert key(math.inf) != key(-math.inf)


class Mode(enum.Enum):
    FAST = 1


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Config:
    url: str
    retries: int = 3


class Keyed:
    def __init__(self, secret, version):
        self.secret, self.version = secret, version

    def __cache_key__(self):
        return {"version": self.version}


def test_supported_types_are_keyed_by_value():
    assert key(Config("u")) == key(Config("u")) != key(Config("u", 4))
    assert key(Mode.FAST) != key(1) and key(Level.LOW) != key(1) != key(Mode.FAST)
    assert key(dt.datetime(2026, 1, 1)) != key(dt.date(2026, 1, 1))
    assert key(uuid.UUID(int=1)) == key(uuid.UUID(int=1)) != key(uuid.UUID(int=2))
    assert key(pathlib.PurePosixPath("a/b")) == key(pathlib.PureWindowsPath("a\\b"))
    assert key(Keyed("x", 1)) == key(Keyed("y", 1)) != key(Keyed("x", 2))


def test_numpy_arrays_by_dtype_shape_and_content():
    a = np.arange(6, dtype=np.int64)
    assert key(a) == key(a.copy())
    assert key(a) != key(a.reshape(2, 3))
    assert key(a) != key(a.astype(np.int32))
    assert key(a.reshape(2, 3).T) == key(np.ascontiguousarray(a.reshape(2, 3).T))


@pytest.mark.parametrize(
    ("value", "path", "kind"),
    [
        ({"callback": lambda: 1}, "inputs['config']['callback']", "function"),
        ({"stream": io.StringIO()}, "inputs['config']['stream']", "_io.StringIO object"),
        ({"nested": [1, object()]}, "inputs['config']['nested'][1]", "builtins.object object"),
    ],
)
def test_unencodable_inputs_name_step_path_and_fix(value, path, kind):
    with pytest.raises(CacheKeyError) as info:
        KEYS.key(steps.double, {"config": value}, address="report/double")
    message = str(info.value)
    assert message.startswith(f"step 'report/double': no cache key: {path} is a ")
    assert kind in message
    assert "__cache_key__()" in message and "CachePolicy(key=" in message


def test_context_is_left_out_unless_asked_for():
    with_ctx = {"value": 1, "context": object()}
    assert KEYS.key(steps.double, with_ctx) == KEYS.key(steps.double, {"value": 1})
    assert KEYS.key(steps.double, {"value": 1}, {"user": "a"}) != KEYS.key(
        steps.double, {"value": 1}, {"user": "b"}
    )


def test_identity_is_name_plus_version_or_source():
    versioned = step(steps.double.fn, name="double", version="7")
    assert step_identity(versioned) == "double@version:7"
    assert step_identity(steps.double).startswith("double@source:")
    renamed = step(steps.double, name="twice")
    assert KEYS.key(renamed, {"x": 1}) != KEYS.key(steps.double, {"x": 1})


def _module_key(tmp_path, body, hash_seed="0"):
    module = tmp_path / "edited_step.py"
    module.write_text(
        textwrap.dedent(f"""
        from executor import step

        @step
        def work(x):
            {body}
    """)
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import edited_step; "
        "from executor.cache import CacheKeyGenerator; "
        "print(CacheKeyGenerator().key(edited_step.work, {'x': {'b', 'a', 'c'}}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_editing_a_step_body_invalidates_its_keys(tmp_path):
    assert _module_key(tmp_path, "return x") != _module_key(tmp_path, "return x * 2")


def test_keys_agree_across_processes_and_hash_seeds(tmp_path):
    keys = {_module_key(tmp_path, "return x", seed) for seed in ("0", "1", "4242")}
    assert len(keys) == 1


GOLDEN_STEP = step(steps.double.fn, name="golden", version="1")


GOLDEN_INPUTS = {
    "flat": {"n": 3, "rate": 0.5, "name": "ü", "on": True, "none": None},
    "scalars": {"a": 1, "b": [1, 2.5, "x", None, True]},
    "collections": {"s": {"b", "a"}, "t": (1, 2), "d": {2: "two", 1: "one"}},
    "time-and-money": {"when": dt.datetime(2026, 11, 21, 12, 0), "cost": decimal.Decimal("1.10")},
    "types": {"config": Config("https://x"), "mode": Mode.FAST, "raw": b"\x00\xff"},
    "settings-dict": {
        "request": {
            "user_id": 4217,
            "region": "eu-west-1",
            "limit": 100,
            "active": True,
            "rate": 0.25,
            "tag": None,
        },
        "page": 2,
    },
}


@pytest.mark.parametrize("name", sorted(GOLDEN_INPUTS))
def test_golden_keys_are_pinned(name):
    """An accidental change to the key algorithm must fail here: if the change is
    meant, bump KEY_FORMAT (old entries then miss) and re-pin."""
    assert KEYS.key(GOLDEN_STEP, GOLDEN_INPUTS[name]) == PINNED[name]
    assert call_key(GOLDEN_STEP, GOLDEN_INPUTS[name]) == PINNED[name]


PINNED = {  # re-pinned for KEY_FORMAT 2 (flat inputs via ascii())
    "collections": "8a0c53ba3a848ca7e54855ed6df92f9448b7b9fcb2d2aebabe65d0fc7bb5d90a",
    "flat": "9cc2193bea283218ff4a2b4b27d9df48ed45d650ab2a19b2395c8b8277e725cf",
    "scalars": "6a98bb83dec4ac9ea90a2cd6f519cecf120ad03aa1f8252918524fa0c8847cf0",
    # Pinned before the inlined path for dicts of small dicts existed: its bytes must
    # be exactly those of the general path.
    "settings-dict": "fe4f291d2dccd562fd174244c9968439ee5e98393e3a1128db6479e07f800e09",
    "time-and-money": "564b93603cf4443bd12ba006c95932b64f87a9cef503550c23117bd5de2e835f",
    "types": "c825e3c051f04ca274603ee28eb66a3bb3d7c3359b8d2f30b7d907258bca1e57",
}


@given(st.text(), st.text())
def test_flat_inputs_key_by_code_points_alone(name, text):
    """A flat input's bytes are ASCII, every other character escaped by its code
    point: ``repr`` kept printable non-ASCII text as it was, and "printable" comes
    from the Python build's Unicode tables, so the same input could key differently
    on two Python versions (and "ü" did not escape)."""
    one = KEYS.encode({name: text}, "golden", "inputs")
    two = KEYS.encode({name: text, "\x00n": 1}, "golden", "inputs")
    assert one.isascii() and two.isascii()
    assert one == b"R" + ascii({name: text}).encode()
    assert json.loads(two[1:]) == {name: text, "\x00n": 1}


def test_non_finite_floats_in_plain_inputs():
    assert key([math.inf]) != key([-math.inf])
    assert key({"a": math.nan}) == key({"a": float("nan")})


def test_source_identity_is_read_lazily_and_once_across_threads(monkeypatch):
    """Defining steps and a flow never reads a function's source (only caching and
    replay need it); the first keys ask for it once, however many threads ask."""
    import threading
    import time

    import executor._step as step_module
    from executor import Flow

    reads = []

    def counted(fn):
        reads.append(fn)
        time.sleep(0.01)  # widen the window two threads could both compute in
        return b"source of " + fn.__name__.encode()

    monkeypatch.setattr(step_module, "_source_material", counted)

    def work(x):
        return x

    made = step(work)
    flow = Flow("lazy", [made])
    assert reads == []
    barrier = threading.Barrier(8)
    found: list[str] = []

    def ask():
        barrier.wait()
        found.append(KEYS.key(flow.step("work"), {"x": 1}))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == [work]
    assert len(set(found)) == 1 and len(found) == 8
    assert step_identity(made).startswith("work@source:")
    assert reads == [work]


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
_scalars_or_flat_dicts = _json_scalars | st.dictionaries(st.text(max_size=4), _json_scalars)


@given(
    st.dictionaries(
        st.text(max_size=4).filter(lambda name: name != "context"), _scalars_or_flat_dicts
    )
)
def test_inlined_key_paths_give_the_general_paths_bytes(inputs):
    """key() and call_key() (the engine's) inline flat inputs and inputs holding flat
    dicts; the keys must be the ones the general encoder gives (key_of), byte for byte."""
    general = KEYS.key_of(steps.double, inputs, "inputs")
    assert KEYS.key(steps.double, inputs) == general
    assert call_key(steps.double, inputs) == general


# The engine's key generator, through the harness's own property checks (the same ones
# downstream projects run on their steps): typed inputs, a version, a key= function.
@pytest.mark.flow_cache_keys([key_steps.fetch, key_steps.versioned, key_steps.by_url])
def test_cache_keys_hold_their_properties(flow_cache_keys_step):
    assert flow_cache_keys_step.cache is not None


def test_the_remembered_last_key_only_answers_its_own_inputs():
    """The engine remembers a step's last key (a hit repeats the inputs seen before);
    it must never answer for other inputs, and a large body is not kept."""
    made = step(steps.double.fn, name="remembering", version="1")
    one, two = {"n": 1}, {"n": 2}
    first = call_key(made, one)
    assert call_key(made, one) == first  # answered from memory
    assert call_key(made, two) == KEYS.key_of(made, two, "inputs") != first
    assert call_key(made, one) == first
    big = {"rows": {f"k{i}": i for i in range(200)}}
    assert call_key(made, big) == KEYS.key_of(made, big, "inputs")
    assert made.__dict__["_flowexec_last_key"][0] == b"R" + repr(one).encode()
