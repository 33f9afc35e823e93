"""Which addresses a ``resume(resume_from=...)`` runs again, whatever is stored.

Addresses nest (``flow/comp[2]/inner``, ``flow/par/branch/step``, ``flow/loop#3``),
so one redone address touches three kinds of address:

- **whole**: the address itself, everything inside it, and (registered as the run
  goes, see :meth:`RedoSet.add`) the steps downstream of it at its own level and
  everything inside those. They run live; strict replay does not refuse them.
- **around**: a composite that contains a redone address. It runs live so that
  its parts are decided one by one: the parts that are not being redone are
  replayed from the store (and refused in strict mode when not stored).
- anything else: replayed from the store, as by a plain resume.

The later iterations of a loop are downstream of a redone iteration: each one is
fed the one before.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Iterator

_MARKS = "/[#"  # where a nested part of an address begins


class Redo(enum.Enum):
    """How :meth:`RedoSet.kind` classes an address."""

    WHOLE = "whole"
    """Run again live, and everything inside it."""
    AROUND = "around"
    """A composite around a redone address: runs live, its parts decided one by one."""


def _prefixes(address: str) -> Iterator[str]:
    """The addresses that contain ``address`` (``f/m[2]/s`` -> ``f``, ``f/m``, ``f/m[2]``)."""
    for position, char in enumerate(address):
        if char in _MARKS:
            yield address[:position]


def _iteration(address: str, position: int) -> int | None:
    """The loop iteration number after the ``#`` at ``position``, if it is one."""
    end = position + 1
    while end < len(address) and address[end].isdigit():
        end += 1
    if end == position + 1 or (end < len(address) and address[end] not in _MARKS):
        return None
    return int(address[position + 1 : end])


class RedoSet:
    """The redone addresses of one resume; shared by every level of the run.

    Lookups cost one set test per nesting level of the address, so a map of many
    items pays next to nothing per item.
    """

    def __init__(self, roots: Iterable[str]) -> None:
        self._lock = threading.Lock()  # nested levels may run on other threads
        self._roots: set[str] = set()
        self._around: set[str] = set()
        self._loops: dict[str, int] = {}  # loop address -> first redone iteration
        for root in roots:
            self.add(root)

    def add(self, address: str) -> None:
        """Run ``address`` and everything inside it again (a step found downstream
        of a redone one while the run goes)."""
        with self._lock:
            self._roots.add(address)
            for position, char in enumerate(address):
                if char in _MARKS:
                    self._around.add(address[:position])
                if char == "#":
                    k = _iteration(address, position)
                    if k is not None:
                        base = address[:position]
                        self._loops[base] = min(k, self._loops.get(base, k))

    def kind(self, address: str) -> Redo | None:
        """Whether ``address`` runs again: WHOLE, AROUND, or ``None`` (replay it)."""
        roots = self._roots
        if not roots:  # a plain resume: nothing is redone on purpose
            return None
        if address in roots:
            return Redo.WHOLE
        loops = self._loops
        for position, char in enumerate(address):
            if char not in _MARKS:
                continue
            if address[:position] in roots:
                return Redo.WHOLE
            if char == "#" and loops:
                first = loops.get(address[:position])
                k = _iteration(address, position)
                if first is not None and k is not None and k > first:
                    return Redo.WHOLE  # fed by a redone iteration
        if address in self._around:
            return Redo.AROUND
        return None
