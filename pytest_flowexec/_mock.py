"""The ``flow_mock`` fixture: stub and spy on steps of every flow a test runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from executor import Step, StepExecutor

__tracebackhide__ = True
"""pytest leaves these frames out: an exception a stub raises is the test's answer, and
the frames that raise it are the mock's, never the user's (``--fulltrace`` shows them)."""

_UNSET: Any = object()
_lifecycle = pluggy.HookimplMarker("flowexec")
"""``executor.hookimpl`` without importing the engine (same project name)."""
_WHEN_LABELS = ("then", "otherwise")
"""How addresses name a ``when``'s arms (``f/check/then``); not step names."""


@dataclass
class _Rule:
    target: str
    spy: bool
    return_value: Any = _UNSET
    side_effect: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    matched: bool = False
    answers: Iterable[Any] | None = None


class FlowMock:
    """Stub or spy on steps by step name (``"fetch"``) or full address
    (``"report/fetch"``, ``"report/each[2]"``); an address wins over a name.

    Every flow the test runs — on any executor, started anywhere — goes through it.
    At the end of the test, a stub or spy that names no address the test's runs
    reached is an error: a typo must not silently stub nothing.
    """

    def __init__(self) -> None:
        self._rules: dict[str, _Rule] = {}
        self._reached: dict[str, tuple[str, list[str]]] = {}
        """Every address the test's runs reached (leaf and composite): its step name
        and how it got its outcomes, in the words of ``--flow-coverage``."""
        self._composite: set[str] = set()
        """Reached addresses of composite steps: no stub answers them."""
        self._stubbed: set[str] = set()
        self._lock = threading.Lock()
        self._checked: set[str] = set()

    # -- configuring --------------------------------------------------------------

    def stub(self, target: str, return_value: Any = _UNSET, *, side_effect: Any = None) -> None:
        """Answer calls of ``target`` without running it.

        Args:
            return_value: what every call returns.
            side_effect: a list of successive answers (an exception in it is
                raised), a callable receiving the step's inputs as keywords, or an
                exception (class or instance) to raise.
        """
        if return_value is _UNSET and side_effect is None:
            raise TypeError(f"flow_mock.stub({target!r}): give return_value= or side_effect=")
        answers = iter(side_effect) if isinstance(side_effect, (list, tuple)) else None
        self._rules[target] = _Rule(target, False, return_value, side_effect, answers=answers)

    def spy(self, target: str) -> None:
        """Record calls of ``target`` and let them run for real."""
        self._rules[target] = _Rule(target, True)

    # -- asking ---------------------------------------------------------------------

    def calls(self, target: str) -> list[dict[str, Any]]:
        """The inputs of every call of ``target``, in order (the context left out)."""
        return list(self._rule(target).calls)

    def assert_called(self, target: str, times: int | None = None) -> None:
        """Assert ``target`` was called (exactly ``times`` times, when given)."""
        count = len(self._rule(target).calls)
        if times is None and count == 0:
            raise AssertionError(f"flow_mock: {target!r} was never called{self._how(target)}")
        if times is not None and count != times:
            raise AssertionError(
                f"flow_mock: {target!r} was called {count} time(s), not {times}{self._how(target)}"
            )

    def _how(self, target: str) -> str:
        """What happened at the addresses ``target`` names (a cached step is not called)."""
        with self._lock:
            found = [
                f"{address} ({', '.join(hows)})"
                for address, (name, hows) in sorted(self._reached.items())
                if target in (address, name)
            ]
        return f"; it ran as: {', '.join(found)}" if found else ""

    def _rule(self, target: str) -> _Rule:
        try:
            return self._rules[target]
        except KeyError:
            known = ", ".join(sorted(self._rules)) or "none"
            raise KeyError(
                f"flow_mock: {target!r} is neither stubbed nor spied on (configured: {known})"
            ) from None

    def unmatched(self) -> list[str]:
        """Configured targets that name no address the test's runs reached (checked when
        the test ends): a spy on a step that was only cached is not a typo."""
        with self._lock:
            leaves = {a: name for a, (name, _) in self._reached.items() if a not in self._composite}
            names = set(leaves.values())
            return sorted(
                rule.target
                for rule in self._rules.values()
                if not (rule.matched or rule.target in leaves or rule.target in names)
            )

    def composite(self, target: str) -> bool:
        """Whether ``target`` is the address of a composite step the test reached."""
        with self._lock:
            return target in self._composite

    def answered(self, address: str) -> bool:
        """Whether a stub (not a spy) answered a call at ``address`` (step coverage
        counts such a step as stubbed, not as run)."""
        with self._lock:
            return address in self._stubbed

    def reached(self) -> list[str]:
        """Each address the test's runs reached, composites and cached map items
        included, with how it got its outcome(s): ``report/fetch (live)``,
        ``report/each[0] (live, cached)`` (live, replayed, cached, stubbed or never, as
        ``--flow-coverage`` says), sorted by address."""
        with self._lock:
            return [
                f"{address} ({', '.join(hows)})"
                for address, (_, hows) in sorted(self._reached.items())
            ]

    def observer(self) -> object:
        """The lifecycle plugin (``executor.testing.observe``) that tells this mock
        how every address of the test's runs ended."""
        return _Reach(self)

    def _started_composite(self, address: str) -> None:
        with self._lock:
            self._composite.add(address)

    def _reach(self, address: str, name: str, how: str) -> None:
        with self._lock:
            _, hows = self._reached.setdefault(address, (name, []))
            if how not in hows:
                from pytest_flowexec._step_coverage import HOWS

                hows.append(how)
                hows.sort(key=HOWS.index)

    def unchecked(self) -> bool:
        """Whether some target has not been through :meth:`check_targets` yet."""
        return not self._checked.issuperset(self._rules)

    def check_targets(self, known: frozenset[str], addresses: frozenset[str], flow: str) -> None:
        """Before a run of ``flow`` starts: fail on a target naming no step a stub can
        answer (a typo, a composite step, a label the engine gave a ``when``'s parts),
        with the nearest names and addresses, before any real step runs.

        Args:
            known: the names of the leaf steps that exist (``known_step_names``).
            addresses: the addresses of the flows that exist (``known_addresses``).
            flow: the flow about to run.
        """
        for target in sorted(set(self._rules) - self._checked):
            self._checked.add(target)
            if "/" in target:  # an address (labels are not all step names): checked at the end
                continue
            if target in known:
                continue
            labelled = sorted(a for a in addresses if a.rpartition("/")[2] == target)
            near = _nearest(target, labelled, known, addresses, flow)
            hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
            first = near[0] if near else "step"
            example = first if "/" in first else f"{flow}/{first}"
            raise AssertionError(
                f"flow_mock: {target!r} names {_what_it_names(target, labelled)}({hint}reported "
                f"before flow {flow!r} ran any step; stub or spy a step name or a full "
                f"address such as {example!r})"
            )

    # -- in the engine ----------------------------------------------------------------

    def stubbed(self, name: str, address: str) -> bool:
        """Whether a stub (not a spy) answers the step at ``address``: then it is
        neither replayed nor recorded."""
        rule = self._rules.get(address) or self._rules.get(name)
        return rule is not None and not rule.spy

    def observe(self, name: str, address: str, inputs: Mapping[str, Any]) -> None:
        """A step answered from a recording: a spy on it sees the call."""
        with self._lock:
            rule = self._rules.get(address) or self._rules.get(name)
            if rule is not None:
                rule.matched = True
                rule.calls.append({k: v for k, v in inputs.items() if k != "context"})

    def wrap(self, base: StepExecutor) -> StepExecutor:
        """The step executor the runs use while the test runs."""
        return _MockStepExecutor(self, base)

    def answer(
        self,
        step: Step[..., Any],
        inputs: Mapping[str, Any],
        context: Any,
        address: str | None,
        base: StepExecutor,
    ) -> Any:
        with self._lock:
            rule = (self._rules.get(address) if address is not None else None) or self._rules.get(
                step.name
            )
            if rule is None:
                return base(step, inputs, context)
            rule.matched = True
            rule.calls.append({k: v for k, v in inputs.items() if k != "context"})
            if not rule.spy and address is not None:
                self._stubbed.add(address)
        if rule.spy:
            return base(step, inputs, context)
        return _respond(rule, inputs, address or step.name, step)


def _what_it_names(target: str, labelled: list[str]) -> str:
    """Why ``target``, no leaf step's name, is no name to stub (the message's subject)."""
    if target in _WHEN_LABELS:
        return f"no step: {target!r} is how addresses name a when arm, not a step name "
    if target == "predicate":
        return "no step: a when predicate is not a step (it picks the arm), so no stub answers it "
    if labelled:
        return f"a composite step: a stub answers the steps inside it, not {target!r} itself "
    return "no step that exists "


def _nearest(
    target: str, labelled: list[str], known: frozenset[str], addresses: frozenset[str], flow: str
) -> list[str]:
    """What ``target`` probably meant: the addresses it labels, the steps inside the
    composite it names, a ``when``'s arms for its predicate, or close step names."""

    def flow_first(found: list[str]) -> list[str]:  # the flow about to run, if it has any
        return ([a for a in found if a.startswith(f"{flow}/")] or found)[:3]

    if target in _WHEN_LABELS:
        return flow_first(labelled)
    if target == "predicate":
        return flow_first(sorted(a for a in addresses if a.endswith(("/then", "/otherwise"))))
    if labelled:  # a composite step: what can be stubbed inside it
        labelled = flow_first(labelled)
        return sorted(a for a in addresses if any(a.startswith(f"{c}/") for c in labelled))[:3]
    from executor._suggest import close_names  # the engine's "did you mean", one rule

    return close_names(target, known)


class _Reach:
    """Tells a :class:`FlowMock` how each step of the test's runs ended."""

    def __init__(self, mock: FlowMock) -> None:
        # Imported here, when a test uses flow_mock: the plugin module imports this
        # one, and a session that never uses the plugin must not pay for it.
        from pytest_flowexec._step_coverage import how_it_ran

        self._mock = mock
        self._how_it_ran = how_it_ran

    @_lifecycle
    def step_start(self, address: str, step: Any, inputs: Any) -> None:
        if step.is_composite:
            self._mock._started_composite(address)

    @_lifecycle
    def step_end(self, address: str, result: Any) -> None:
        how = self._how_it_ran(address, result.status.value, self._mock)
        self._mock._reach(address, result.name, how)


def _respond(rule: _Rule, inputs: Mapping[str, Any], where: str, step: Step[..., Any]) -> Any:
    if rule.answers is not None:
        try:
            answer = next(iter(rule.answers))
        except StopIteration:
            raise AssertionError(
                f"flow_mock: {where!r} was called more often than its side_effect list has answers"
            ) from None
        if isinstance(answer, BaseException):
            raise answer
        return answer
    effect = rule.side_effect
    if isinstance(effect, type) and issubclass(effect, BaseException):
        raise effect(f"raised by flow_mock for {where!r}")
    if isinstance(effect, BaseException):
        raise effect
    if callable(effect):  # called as the step would be: its defaults filled in
        from executor.testing import called_with

        return effect(**called_with(step, inputs))
    return rule.return_value


class _MockStepExecutor:
    """The step executor a test's runs use: stubs answer, everything else runs."""

    def __init__(self, mock: FlowMock, base: StepExecutor) -> None:
        self._mock = mock
        self._base = base

    def __call__(self, step: Step[..., Any], inputs: Mapping[str, Any], context: Any) -> Any:
        from executor.testing import current_address

        return self._mock.answer(step, inputs, context, current_address(), self._base)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        # Sent to a worker process (executor="parallel", a process pool): a stub's
        # answers and a spy's calls live in this process, so what travels is the real
        # step executor and the targets, to name the stub that cannot answer there.
        rules = [(rule.target, rule.spy) for rule in self._mock._rules.values()]
        return (_InWorker, (self._base, tuple(rules)))


class _InWorker:
    """``flow_mock`` in a worker process: unstubbed steps run for real; a stubbed or
    spied one fails, naming its address, its stub and the fix."""

    def __init__(self, base: StepExecutor, rules: tuple[tuple[str, bool], ...]) -> None:
        self._base = base
        self._rules = dict(rules)

    def __call__(self, step: Step[..., Any], inputs: Mapping[str, Any], context: Any) -> Any:
        from executor.testing import current_address

        address = current_address() or step.name
        target = address if address in self._rules else step.name
        if target not in self._rules:
            return self._base(step, inputs, context)
        if self._rules[target]:
            what, why = f"spied on (flow_mock.spy({target!r}))", "a spy records calls"
        else:
            what, why = f"stubbed (flow_mock.stub({target!r}))", "a stub answers"
        raise AssertionError(
            f"flow_mock: step {address!r} is {what} but runs in another process "
            f"(executor='parallel', executor='dask', or a process pool), and {why} only in "
            f"the test process; run this flow with executor='threaded' (or 'sequential') "
            f"in the test"
        )
