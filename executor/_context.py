"""The run context: copied per parallel branch, merged back by a MergeStrategy.

A context is a dict, a dataclass instance, a pydantic model, or any object with a
``__dict__``. It is changed in place (steps hold a reference to it), so merging
assigns fields onto the parent rather than replacing it.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from executor._errors import ContextConflict, hide_engine_frame

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

MergeFunction = Callable[[Any, Mapping[str, Any]], Any]
"""``(parent, {branch: branch_context}) -> parent``; branches in declaration order."""


class MergeStrategy(enum.Enum):
    """How a parallel step folds its branches' contexts back into the parent's.

    Branches are always taken in declaration order, so the result never depends
    on which branch finished first.
    """

    NO_MERGE = "no_merge"
    """The parent context is left as it was."""
    OVERWRITE = "overwrite"
    """Every field of each branch's context is assigned in declaration order: the
    last branch wins."""
    CONTEXT_UPDATE = "context_update"
    """Fields a branch changed are assigned; two branches changing one field to
    different values raise :class:`ContextConflict`."""
    MERGE_SCRATCHPAD = "merge_scratchpad"
    """The dict field ``scratchpad`` of each branch is deep-merged into the parent's,
    in declaration order (a later branch wins on a conflicting leaf)."""
    KEEP_FIRST = "keep_first"
    """The first branch's context (in declaration order) is kept."""


def fields_of(context: Any) -> dict[str, Any]:
    """The context's fields as a dict (a shallow view, not a copy of values)."""
    if isinstance(context, dict):
        return dict(context)
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        return {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
    if hasattr(type(context), "model_fields"):
        return {name: getattr(context, name) for name in type(context).model_fields}
    if hasattr(context, "__dict__"):
        return dict(vars(context))
    raise TypeError(
        f"a context must be a dict, a dataclass, a pydantic model or an object "
        f"with attributes, got {type(context).__qualname__}"
    )


def assign(target: Any, values: Mapping[str, Any]) -> None:
    """Set ``values`` as fields of ``target``, in place."""
    if isinstance(target, dict):
        target.update(values)
        return
    for name, value in values.items():
        setattr(target, name, value)


def replace_all(target: Any, source: Any) -> None:
    """Make ``target`` hold exactly ``source``'s fields, in place."""
    if target is source:
        return
    if isinstance(target, dict):
        target.clear()
        target.update(source)
        return
    assign(target, fields_of(source))


def apply_change(
    target: Any, source: Any, changed: tuple[str, ...] | None, removed: tuple[str, ...] = ()
) -> None:
    """Do to ``target`` what a step did to its context, as ``source`` (the context the
    step left) shows it: set the fields named in ``changed`` and drop the dict keys
    in ``removed``, leaving every other field as it is now (another step may have
    changed it meanwhile). ``changed`` None: nothing says which fields, so
    ``target`` becomes ``source`` whole."""
    if changed is None:
        replace_all(target, source)
        return
    fields = fields_of(source)
    assign(target, {name: fields[name] for name in changed if name in fields})
    if isinstance(target, dict):
        for name in removed:
            target.pop(name, None)


def isolated_copy(context: Any) -> Any:
    """A deep copy for one branch: what a branch does to it stays in the branch."""
    if context is None:
        return None
    model_copy = getattr(context, "model_copy", None)
    if callable(model_copy):
        return model_copy(deep=True)
    return copy.deepcopy(context)


def merge_contexts(
    strategy: MergeStrategy | MergeFunction,
    parent: Any,
    original: Any,
    branches: Mapping[str, Any],
    order: Sequence[str],
    address: str,
) -> None:
    """Fold ``branches`` (branch name -> its context) into ``parent`` in place.

    Args:
        original: a copy of the parent taken before the branches ran (what
            "changed" is measured against).
        order: branch names in declaration order; only those present in
            ``branches`` (the ones that completed) take part.
    """
    if parent is None:
        return
    done = [(name, branches[name]) for name in order if name in branches]
    if callable(strategy) and not isinstance(strategy, MergeStrategy):
        merged = strategy(parent, dict(done))
        if merged is not None and merged is not parent:
            replace_all(parent, merged)
        return
    if strategy is MergeStrategy.NO_MERGE or not done:
        return
    if strategy is MergeStrategy.OVERWRITE:
        for _, branch in done:
            assign(parent, fields_of(branch))
    elif strategy is MergeStrategy.KEEP_FIRST:
        replace_all(parent, done[0][1])
    elif strategy is MergeStrategy.CONTEXT_UPDATE:
        assign(parent, _changes(fields_of(original), done, address))
    elif strategy is MergeStrategy.MERGE_SCRATCHPAD:
        pad = fields_of(parent).get("scratchpad")
        merged_pad = copy.deepcopy(pad) if isinstance(pad, dict) else {}
        for _, branch in done:
            theirs = fields_of(branch).get("scratchpad")
            if isinstance(theirs, dict):
                _deep_merge(merged_pad, theirs)
        assign(parent, {"scratchpad": merged_pad})


def _changes(
    before: Mapping[str, Any], done: list[tuple[str, Any]], address: str
) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    changed_by: dict[str, str] = {}
    missing = object()
    for name, branch in done:
        for field, value in fields_of(branch).items():
            if before.get(field, missing) == value and field in before:
                continue
            if field in changed and changed[field] != value:
                raise ContextConflict(address, field, [changed_by[field], name])
            changed[field] = value
            changed_by.setdefault(field, name)
    return changed


def _deep_merge(into: dict[Any, Any], source: Mapping[Any, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
