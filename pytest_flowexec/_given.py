"""Hypothesis ``@given`` tests under record/replay: the same examples every session.

A recording keeps a test's flow runs in order, and a replay needs the test to make
those runs again. A ``@given`` test makes its runs once per example, and hypothesis
picks its examples afresh each session: at random, after replaying the failures
saved in its example database, and mixing in (in about one draw in twenty) literals
found in whichever of the project's own modules are imported at the time, so one
test file run alone draws other examples than the whole suite.

So while such a test records or replays, the plugin:

- seeds it with :func:`hypothesis.seed` (public API; it also turns the example
  database off for the test) with the recording's own seed: a stable hash of the
  test id when recording, the seed the file keeps when replaying;
- keeps the project's literals out of its draws (hypothesis has no public switch for
  this: the one private function it patches is looked up, and when a hypothesis
  version lacks it the test runs without that step, so only a replay can tell);
- writes the hypothesis version into the recording, so that a replay that no longer
  matches says whether an upgrade is the likely cause;
- under replay, stops the test at its first failing example and reports that
  failure (the first mismatch, or the test's own error) as it is: shrinking would
  run examples that were never recorded, each compared with another recorded run,
  and hypothesis would report one of those, often as a flaky failure.

Given the same hypothesis version, strategies and settings, hypothesis then draws
the examples it drew when recording, in any process, under any ``PYTHONHASHSEED``,
with or without xdist, whatever other tests the session runs.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from pytest_flowexec._session import TestRun


def given_function(item: pytest.Item) -> Any:
    """The ``@given``-wrapped function ``item`` calls, or None for any other test.

    No test module that uses ``@given`` runs without importing hypothesis, so a
    session that never imported it is answered without importing it.
    """
    if "hypothesis" not in sys.modules:
        return None
    function = getattr(item, "obj", None)
    function = getattr(function, "__func__", function)  # a test method: its function
    # The attribute hypothesis' own pytest plugin looks for (is_hypothesis_test), and
    # the wrapper @given makes: a state machine's runTest has no examples to seed.
    if not callable(function) or getattr(function, "is_hypothesis_test", False) is not True:
        return None
    if getattr(getattr(function, "hypothesis", None), "inner_test", None) is None:
        return None
    return function


@contextlib.contextmanager
def given_examples(item: pytest.Item, test: TestRun) -> Iterator[None]:
    """Around a ``@given`` test that records or replays: fixed examples (see above).

    A test with nothing to replay and nothing to record (``--flow-replay`` without a
    recording: it runs no flow, or fails as unrecorded anyway) keeps hypothesis'
    random generation and its database, as does every test outside a recording mode.
    """
    if test.action == "none" or (test.existing is None and test.action not in ("record", "new")):
        yield
        return
    function = given_function(item)
    if function is None:
        yield
        return
    import hypothesis

    hypothesis.seed(test.seed)(function)  # it stays seeded for the rest of the session
    test.hypothesis = hypothesis.__version__
    if test.existing is not None:
        test.rerecord = f"{_why(test, test.existing.hypothesis)}\n{test.rerecord}"
    # Replay stops at the first failing example: shrinking it would run examples
    # that were never recorded, each compared with another recorded run.
    # ``hypothesis.inner_test`` is hypothesis' documented seam for wrapping a test.
    inner = function.hypothesis.inner_test
    if test.action == "replay":
        function.hypothesis.inner_test = _stopping(inner)
    failure: _FirstFailure | None = None
    try:
        with _without_local_constants():
            yield
    except _FirstFailure as stop:
        failure = stop
    finally:
        function.hypothesis.inner_test = inner
    if failure is None:
        return
    first = test.first_mismatch
    if first is not None:
        import pytest

        k = next((k for k, (_, _, tap) in enumerate(test.taps) if tap.misses), 0)
        raise pytest.fail.Exception(
            f"{item.nodeid}: replay no longer matches the recording, from run {k} "
            f"(flow {test.taps[k][0]!r}) on; the first mismatch:\n{first}",
            pytrace=False,
        ) from None
    # The test's own failure, on the example it was recorded with; "from": not shown
    # as raised while handling the _FirstFailure that carried it here.
    raise failure.error from failure.error.__cause__


def validation_note(test: TestRun) -> list[str]:
    """For a ``@given`` test whose outputs differ from its recording under
    ``--flow-validate``: why its examples may differ, and how to re-record."""
    if test.action != "validate" or test.hypothesis is None or test.existing is None:
        return []
    return [test.rerecord] if any(tap.mismatches for _, _, tap in test.taps) else []


class _FirstFailure(BaseException):
    """A replayed ``@given`` test's first failure, carried past hypothesis.

    Hypothesis shrinks what an ``Exception`` reports and lets a ``BaseException``
    through at once (as it does ``KeyboardInterrupt``).
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _stopping(inner: Callable[..., Any]) -> Callable[..., Any]:
    """``inner``, whose first failure stops hypothesis (see :class:`_FirstFailure`)."""
    from hypothesis.errors import HypothesisException

    @functools.wraps(inner)
    def test(*args: Any, **kwargs: Any) -> Any:
        try:
            return inner(*args, **kwargs)
        except HypothesisException:
            raise  # assume(), and hypothesis' own controls
        except Exception as error:
            shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            if hasattr(error, "add_note"):  # Python 3.11+
                error.add_note(
                    f"Replayed example (as recorded; a replay does not shrink): "
                    f"{inner.__name__}({shown})"
                )
            raise _FirstFailure(error) from None

    return test


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis draws no literals from the project's modules meanwhile.

    Which modules are imported depends on which tests the session collected (and
    ran before), so with them a test's examples would too.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # another hypothesis: a replay tells whether it still holds
        yield
        return
    local = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    clear = getattr(getattr(cache, "cache", None), "clear", None)
    if local is None or clear is None:
        yield
        return
    none = Constants()
    clear()  # pools filtered from the project's literals by earlier tests
    providers._get_local_constants = lambda: none  # private: there is no public switch
    try:
        yield
    finally:
        providers._get_local_constants = local
        clear()


def _why(test: TestRun, recorded: str | None) -> str:
    """Why a replayed ``@given`` test may not match its recording, for the mismatch."""
    now = test.hypothesis
    if recorded is None:
        return (
            f"{test.item.nodeid} is a hypothesis @given test whose recording names no "
            f"hypothesis version: it was recorded with randomly drawn examples (before "
            f"flowexec seeded @given tests), which no replay can draw again"
        )
    if recorded != now:
        return (
            f"{test.item.nodeid} is a hypothesis @given test: hypothesis {recorded} drew "
            f"the recorded examples, and hypothesis {now} runs it now, which may draw "
            f"other examples from the same seed ({test.seed})"
        )
    return (
        f"{test.item.nodeid} is a hypothesis @given test, seeded with its recording's "
        f"seed ({test.seed}) under the same hypothesis ({now}): if it drew other "
        f"examples, its strategies, @example list or settings (max_examples, the "
        f"settings profile) changed since recording, or a strategy depends on "
        f"something the seed does not fix (the clock, files, the order of a set)"
    )
