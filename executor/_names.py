"""Names with a meaning to the engine, shared by modules that must not import each other."""

CONTEXT_PARAM = "context"
"""A step parameter with this name receives the run context, not a flow value."""
