"""Per-test hooks only in sessions that use them.

The plugin is installed wherever flowexec is, so a session whose tests never touch it
must not pay for it test by test (``python -m benchmarks plugin``: a 500-test session
with the plugin unused). Each feature keeps its per-test hooks (``pytest_runtest_call``
wrappers) on an object that is registered with pytest only when it is needed:

- after collection, when some test carries one of the feature's markers or asks for
  one of its fixtures (one pass over the tests for all features, each module and
  class visited once);
- when one of its fixtures is set up (a fixture asked for through
  ``request.getfixturevalue`` is not among a test's fixture names at collection);
- when an option turns the feature on for every test (``--flow-replay``).

Registration is per session (``config.pluginmanager``), so each xdist worker and each
pytester session decides for itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pytest


class PerTest:
    """One feature's per-test hooks: the markers and fixtures that need them, and how
    to make the object holding them (called once a session, when first needed)."""

    __slots__ = ("fixtures", "make", "markers", "name")

    def __init__(
        self,
        name: str,
        make: Callable[[], object],
        markers: Iterable[str] = (),
        fixtures: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.make = make
        self.markers = frozenset(markers)
        self.fixtures = frozenset(fixtures)

    def activate(self, config: pytest.Config) -> None:
        """Register the hooks with this session, unless they already are."""
        if config.pluginmanager.get_plugin(self.name) is None:
            config.pluginmanager.register(self.make(), self.name)

    def active(self, config: pytest.Config) -> bool:
        return config.pluginmanager.get_plugin(self.name) is not None


def activate_used(
    config: pytest.Config, items: Sequence[pytest.Item], features: Iterable[PerTest]
) -> None:
    """Register the hooks of every feature some collected test uses."""
    waiting = [feature for feature in features if not feature.active(config)]
    if not waiting:
        return
    markers: set[str] = set()
    fixtures: set[str] = set()
    seen: set[pytest.Item | pytest.Collector] = set()
    for item in items:
        fixtures.update(getattr(item, "fixturenames", ()))
        node: pytest.Item | pytest.Collector | None = item
        while node is not None and node not in seen:  # each module and class once
            seen.add(node)
            markers.update(mark.name for mark in node.own_markers)
            node = node.parent
    for feature in waiting:
        if feature.markers & markers or feature.fixtures & fixtures:
            feature.activate(config)
