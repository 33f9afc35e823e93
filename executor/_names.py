"""Names with a meaning to the engine, shared by modules that must not import each other."""

CONTEXT_PARAM = "context"
"""A step parameter with this name receives the run context, not a flow value."""


class _Unset:
    """The type of :data:`UNSET`."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()
"""An argument that was not given, where ``None`` is a meaningful value (a context)."""
