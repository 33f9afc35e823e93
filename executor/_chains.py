"""Submitting steps behind the attempts they wait for (``executor="dask"``).

The scheduler normally starts a step when every step it needs has ended, which
costs a round trip to the client between the steps of a chain. With a
:class:`~executor._executors.Chainer` it may instead submit a step as soon as every
step it still waits for is running on the cluster: their futures become its
arguments and the cluster starts it the moment they end. The client catches up:
when the step becomes ready here it is *adopted* — ``RunState.begin`` runs as for
any step (digest, ``step_start``) — and its outcome, which may already be in, is
taken as usual.

A step is chained only when nothing the client does before a step starts could
change or veto the call: it is a leaf without a cache policy (the lookup needs its
inputs), a timeout (a deadline runs from the start), or a ``context`` parameter
(upstream steps may change the context), and the run has no usage limits and
replays nothing. Otherwise it waits for its turn, as on every executor.

At most one step is chained behind each attempt: Dask places a task where its
inputs are, so several steps chained behind one attempt would queue on that
attempt's worker instead of spreading over the cluster. A chain (each step feeding
the next) runs without the client; a fan-out pays one round trip, then spreads.

A chained attempt holds a place in ``max_concurrency`` from its submission: at most
that many attempts are on the cluster at once, waiting or running.
"""

from __future__ import annotations

import itertools

from executor._errors import hide_engine_frame
from executor._executors import Chainer, Dispatcher, Outcome
from executor._run import RunState

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


class Chains:
    """The chained attempts of one scheduler run (one nesting level)."""

    def __init__(
        self,
        state: RunState,
        dispatcher: Dispatcher,
        chainer: Chainer,
        tokens: itertools.count[int],
    ) -> None:
        self._state = state
        self._dispatcher = dispatcher
        self._chainer = chainer
        self._tokens = tokens
        self._live: dict[int, int] = {}
        """Node -> token of its attempt on the cluster (submitted or chained)."""
        self._chained: dict[int, int] = {}
        """Node -> token of its chained attempt, not adopted yet."""
        self._unadopted: set[int] = set()
        """The tokens in ``_chained``."""
        self._behind: dict[int, list[int]] = {}
        """Node -> nodes chained behind its attempt."""
        self._early: dict[int, Outcome] = {}
        """Token -> outcome of a chained attempt that ended before its adoption."""

    @staticmethod
    def usable(state: RunState) -> bool:
        """Whether steps of this run may be chained at all (see the module doc)."""
        recorder = state.recorder
        return not state.limited and (
            recorder is None or (recorder.replay is None and not recorder.validating)
        )

    def submitted(self, index: int, token: int, room: int) -> int:
        """Node ``index``'s attempt went to the cluster under ``token``: chain what
        can follow it, at most ``room`` attempts. Returns how many were chained."""
        self._live[index] = token
        used = 0
        pending = [index]
        state = self._state
        nodes, results, waits = state.nodes, state.results, state.waits
        while pending and used < room:
            for dependent in nodes[pending.pop()].dependents:
                if used >= room:
                    break
                node = nodes[dependent]
                step = node.step
                if (
                    results[dependent] is not None
                    or dependent in self._live
                    or step.is_composite
                    or step.cache is not None
                    or step.timeout is not None
                    or node.wants_context
                ):
                    continue
                sources = {source for _, source in node.upstream if results[source] is None}
                # Every step it still waits for runs on the cluster (none waits only
                # for ordering, as a critical step does), and has nothing chained
                # behind it yet: Dask puts a task where its inputs are, so steps
                # chained side by side behind one would queue on its worker. The
                # others go once the client has the output, free to go anywhere.
                live = self._live
                if (
                    len(sources) != waits[dependent]
                    or not sources.issubset(live)
                    or any(source in self._behind for source in sources)
                    or not all(self._chainer.follows(live[source]) for source in sources)
                ):
                    continue
                upstream = [
                    (param, self._live[source])
                    for param, source in node.upstream
                    if source in sources
                ]
                inputs = state.inputs_of(node)
                for param, _ in upstream:
                    del inputs[param]  # the upstream futures bring these
                chained = next(self._tokens)
                task = state.task(node, inputs)
                self._chainer.submit_after(chained, task, upstream)
                self._live[dependent] = self._chained[dependent] = chained
                self._unadopted.add(chained)
                for source in sources:
                    self._behind.setdefault(source, []).append(dependent)
                used += 1
                pending.append(dependent)
        return used

    def is_chained(self, index: int) -> bool:
        return index in self._chained

    def adopt(self, index: int) -> tuple[int, Outcome | None]:
        """Node ``index`` is ready here: its chained token, and its outcome if in."""
        token = self._chained.pop(index)
        self._unadopted.discard(token)
        return token, self._early.pop(token, None)

    def hold(self, token: int, outcome: Outcome) -> bool:
        """Keep the outcome of a chained attempt not adopted yet; whether it was one."""
        if token in self._unadopted:
            self._early[token] = outcome
            return True
        return False

    def ended(self, index: int) -> None:
        """Node ``index``'s attempt ended well: what is chained behind it stays."""
        token = self._live.pop(index, None)
        if token is not None:
            self._chainer.release(token)
        self._behind.pop(index, None)

    def drop(self, index: int) -> int:
        """Node ``index``'s attempt failed, timed out or was cancelled: cancel what is
        chained behind it (and behind those). Returns the places freed."""
        token = self._live.pop(index, None)
        if token is not None:
            self._chainer.release(token)
        freed = 0
        pending = self._behind.pop(index, [])
        while pending:
            dependent = pending.pop()
            token = self._chained.pop(dependent, None)
            if token is None:
                continue
            self._dispatcher.cancel(token)
            self._chainer.release(token)
            self._unadopted.discard(token)
            self._early.pop(token, None)
            self._live.pop(dependent, None)
            freed += 1
            pending.extend(self._behind.pop(dependent, []))
        return freed

    def drop_all(self) -> int:
        """The run stops: cancel every chained attempt. Returns the places freed."""
        freed = len(self._chained)
        for token in self._chained.values():
            self._dispatcher.cancel(token)
            self._chainer.release(token)
        self._chained.clear()
        self._unadopted.clear()
        self._early.clear()
        self._behind.clear()
        return freed
