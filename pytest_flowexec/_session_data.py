"""One feature's session data, across xdist: stash, worker hand-over, merge, report.

Each of the plugin's features (recording stats, the determinism tally, golden files,
benchmarks, step coverage) keeps what it did in ``config.stash``. Under xdist each
worker hands its data to the controller in ``workeroutput`` as the worker's session
finishes; the controller merges it as the worker goes down, and reports once
(syrupy's ``DeferXDist`` does the same). The steps are the same for every feature,
so they live here; what the data is, and what the summary says, stay with the feature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import pytest


class Mergeable(Protocol):
    """Session data that a worker can send (``to_json``) and the controller can merge
    (``add``: what one worker sent)."""

    def to_json(self) -> dict[str, Any]: ...

    def add(self, data: Mapping[str, Any]) -> None: ...


M = TypeVar("M", bound=Mergeable)


class SessionData(Generic[M]):
    """Where one feature's data lives (``config.stash[stash]``) and the name it
    travels under from xdist workers (``workeroutput[key]``).

    Example (a feature module's hooks)::

        DATA = SessionData("flowexec_tally", TALLY)

        def pytest_sessionfinish(session):
            DATA.hand_over(session.config)

        @pytest.hookimpl(optionalhook=True)
        def pytest_testnodedown(node, error):
            DATA.take(node)

        def pytest_terminal_summary(terminalreporter, config):
            tally = DATA.to_report(config)
            if tally is not None and tally.checked:
                terminalreporter.section("flowexec tally")
    """

    def __init__(
        self, key: str, stash: pytest.StashKey[M], make: Callable[[], M] | None = None
    ) -> None:
        self.key = key
        self.stash = stash
        self.make = make
        """Makes the data when first needed (a feature whose data costs an import to
        make); without it the feature puts its data in the stash itself."""

    def get(self, config: pytest.Config) -> M:
        """The session's data, made now if it was not yet (needs ``make``)."""
        data = config.stash.get(self.stash, None)
        if data is None:
            assert self.make is not None, f"{self.key}: no data in the stash and no make"
            data = config.stash[self.stash] = self.make()
        return data

    def hand_over(self, config: pytest.Config) -> bool:
        """On an xdist worker, give the data to the controller and return True (the
        controller reports); elsewhere return False and leave the data be."""
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is None:
            return False
        data = config.stash.get(self.stash, None)
        if data is not None:
            workeroutput[self.key] = data.to_json()
        return True

    def take(self, node: Any) -> None:
        """On the controller, as worker ``node`` goes down: merge what it handed over."""
        sent = getattr(node, "workeroutput", {}).get(self.key)
        if sent is None:
            return
        data = node.config.stash.get(self.stash, None)
        if data is None and self.make is not None:
            data = self.get(node.config)
        if data is not None:
            data.add(sent)

    def to_report(self, config: pytest.Config) -> M | None:
        """The session's (merged) data where the summary is written; ``None`` on an
        xdist worker, or when the feature is off (nothing in the stash)."""
        if getattr(config, "workeroutput", None) is not None:
            return None
        return config.stash.get(self.stash, None)
