"""flowexec and hypothesis: the ``hypothesis`` entry point, and the optional extra.

Hypothesis calls :func:`setup` when it is imported (see its ``entry_points`` module),
so ``st.from_type(StepResult)`` works in any project that has flowexec installed.

Hypothesis is an extra (``pip install "flowexec[hypothesis]"``), not a dependency:
its pytest plugin imports all of hypothesis at the end of every pytest process that
has it installed (measured in docs/performance.md), which a project that only uses
``flow_mock`` and record/replay should not pay. The modules built on it
(:mod:`pytest_flowexec.strategies`, :mod:`pytest_flowexec.properties`) say which extra
to install when it is missing (:func:`missing`).
"""

from __future__ import annotations

import warnings


def setup() -> None:
    """Register the engine's types (see :func:`pytest_flowexec.strategies.register_engine_types`).

    A failure here must not break ``import hypothesis`` for the whole project: it
    becomes a warning, and ``from_type`` of the engine's types stays unregistered.
    """
    try:
        from pytest_flowexec.strategies import register_engine_types

        register_engine_types()
    except Exception as error:  # pragma: no cover - only a broken install gets here
        warnings.warn(
            f"flowexec could not register its hypothesis strategies ({error!r}); "
            f"st.from_type() of the engine's types will not work",
            RuntimeWarning,
            stacklevel=2,
        )


def missing(feature: str, error: ModuleNotFoundError) -> ImportError:
    """What importing ``feature`` raises when an import failed with ``error``: the
    project's ``MissingExtra`` when hypothesis itself is not installed, else ``error``."""
    if error.name != "hypothesis":
        return error
    from executor._errors import MissingExtra

    return MissingExtra(feature, "hypothesis", "hypothesis")
