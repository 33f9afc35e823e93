"""The ``hypothesis`` entry point: registers strategies for the engine's types.

Hypothesis calls :func:`setup` when it is imported (see its ``entry_points`` module),
so ``st.from_type(StepResult)`` works in any project that has flowexec installed.
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
