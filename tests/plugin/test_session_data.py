"""SessionData: a feature's data handed from xdist workers, merged, reported once."""

from types import SimpleNamespace

import pytest

from pytest_flowexec._session_data import SessionData


class Count:
    def __init__(self, n=0):
        self.n = n

    def to_json(self):
        return {"n": self.n}

    def add(self, data):
        self.n += data["n"]


KEY = pytest.StashKey[Count]()
DATA = SessionData("count", KEY)


def config(count, **extra):
    stash = pytest.Stash()
    if count is not None:
        stash[KEY] = count
    return SimpleNamespace(stash=stash, **extra)


def test_a_worker_hands_its_data_over_and_reports_nothing():
    worker = config(Count(3), workeroutput={})
    assert DATA.hand_over(worker) is True
    assert worker.workeroutput == {"count": {"n": 3}}
    assert DATA.to_report(worker) is None


def test_the_controller_merges_each_worker_and_reports():
    controller = config(Count(1))
    for n in (2, 4):
        DATA.take(SimpleNamespace(config=controller, workeroutput={"count": {"n": n}}))
    DATA.take(SimpleNamespace(config=controller, workeroutput={}))  # crashed: sent nothing
    assert DATA.hand_over(controller) is False
    assert DATA.to_report(controller).n == 7


def test_a_feature_that_is_off_has_nothing_to_hand_over_or_report():
    worker, controller = config(None, workeroutput={}), config(None)
    assert DATA.hand_over(worker) is True and worker.workeroutput == {}
    DATA.take(SimpleNamespace(config=controller, workeroutput={"count": {"n": 1}}))
    assert DATA.to_report(controller) is None
