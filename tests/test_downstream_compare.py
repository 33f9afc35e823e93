"""The downstream check (examples/downstream/check.sh) is only as honest as its comparison of
replayed results with live ones: these pin what it lets through and what it catches."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "compare_dumps", ROOT / "examples" / "downstream" / "compare_dumps.py"
)
compare_dumps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_dumps)

LIVE = [
    "orders/enriched\tcompleted\t[{'b': 1, 'a': 2}]",
    "orders/enriched[0]\tcompleted\t{'b': 1, 'a': 2}",
    "orders/review/otherwise\tcompleted\t'approved'",
    "outputs\tcompleted\tmappingproxy({'enriched': [{'b': 1, 'a': 2}]})",
]


def check(tmp_path, replayed, live=LIVE):
    for name, lines in (("live", live), ("replay", replayed)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "test_x.txt").write_text("\n".join(lines) + "\n")
    return compare_dumps.main(str(tmp_path / "live"), str(tmp_path / "replay"))


def test_a_replay_equal_to_the_live_run_passes_replayed_standing_for_completed(tmp_path):
    replayed = [line.replace("\tcompleted\t", "\treplayed\t") for line in LIVE]
    assert check(tmp_path, replayed) == 0


@pytest.mark.parametrize(
    "replayed",
    [
        [LIVE[0], LIVE[2], LIVE[3]],  # a nested map item is missing
        [LIVE[0], LIVE[1], LIVE[3]],  # the when arm is missing
        [line.replace("{'b': 1, 'a': 2}", "{'a': 2, 'b': 1}") for line in LIVE],  # dict order
        [line.replace("'approved'", "('approved',)") for line in LIVE],  # another type
        [LIVE[0], LIVE[1], "orders/review/otherwise\tfailed\t'approved'", LIVE[3]],
    ],
    ids=["map item missing", "when arm missing", "dict order", "type", "status"],
)
def test_any_difference_fails_with_a_diff(tmp_path, capsys, replayed):
    assert check(tmp_path, replayed) == 1
    assert "--- live/test_x.txt" in capsys.readouterr().out


def test_a_test_that_replayed_nothing_fails(tmp_path, capsys):
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "test_x.txt").write_text("\n".join(LIVE) + "\n")
    (tmp_path / "replay").mkdir()
    assert compare_dumps.main(str(tmp_path / "live"), str(tmp_path / "replay")) == 1
    assert "test_x.txt has no replayed result" in capsys.readouterr().out
    assert compare_dumps.main(str(tmp_path / "replay"), str(tmp_path / "live")) == 1
