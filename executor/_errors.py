"""The one exception hierarchy of flowexec.

Every error a user can see derives from :class:`FlowError`. Messages name the
step address (``"flow/step"``), the offending value, and what to do about it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from executor._results import FlowResult


def hide_engine_frame(excinfo: Any) -> bool:
    """Whether pytest leaves the engine's frames out of a failure's traceback.

    Each module on the way from ``Flow.run`` to a step (and back to the raise)
    sets ``__tracebackhide__ = hide_engine_frame``: pytest asks it for every such
    frame (pluggy and pytest hide their own frames the same way). A user then sees
    their test's line, the message and, in the cause, the step's own code, not
    pages of scheduler. The frames stay for an error the engine did not mean to
    raise (not a :class:`FlowError`, raised in the engine itself: a bug to report),
    and ``pytest --fulltrace`` shows them all.

    Args:
        excinfo: pytest's ``ExceptionInfo`` of the exception being shown.
    """
    error = getattr(excinfo, "value", None)
    if isinstance(error, FlowError):
        return True
    tb = getattr(excinfo, "tb", None)
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    raised_in = tb.tb_frame.f_globals.get("__tracebackhide__")
    return raised_in is not hide_engine_frame


class FlowError(Exception):
    """Base class of every error raised by flowexec.

    Every one pickles to an equal error (same class, message and attributes): errors
    cross process lines (``executor="parallel"``, Dask, pytest-xdist). By default it
    is rebuilt from its ``args`` and attributes without calling ``__init__``, whose
    parameters are seldom the message; a class that must leave something behind (a
    partial result) says so in its own ``__reduce__``.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _picklable_or_none(value: Any) -> Any:
    """``value`` when it pickles, else None (a value an error carries for show)."""
    import pickle  # only when an error crosses a process line: import executor stays lean

    try:
        pickle.dumps(value)
    except Exception:
        return None
    return value


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...], attributes: dict[str, Any]) -> Any:
    """An error of ``cls`` with these ``args`` and attributes, made without calling
    its ``__init__`` (how a pickled FlowError comes back)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(attributes)
    return error


class FlowDefinitionError(FlowError, ValueError):
    """A flow or step is malformed: raised when it is built, never mid-run.

    Examples: two steps with one name, a dependency cycle, a step name that is
    not an identifier, a parameter that cannot be passed by keyword.
    """


class FlowInputError(FlowError, TypeError):
    """The inputs given to a run do not fit the flow.

    Attributes:
        missing: required flow inputs that were not given, sorted.
        unknown: given names the flow has no input for, sorted.
        changed: for a resume, stored inputs given another value:
            ``{name: (stored, given)}``, sorted by name.
    """

    def __init__(
        self,
        flow: str,
        *,
        missing: Iterable[str] = (),
        unknown: Iterable[str] = (),
        known: Iterable[str] = (),
        reserved: Iterable[str] = (),
        changed: Mapping[str, tuple[Any, Any]] | None = None,
        fix: str = "",
    ) -> None:
        self.flow = flow
        self.missing = tuple(sorted(missing))
        self.unknown = tuple(sorted(unknown))
        self.changed = dict(sorted((changed or {}).items()))
        known_sorted = sorted(known)
        parts: list[str] = []
        if self.missing:
            parts.append(f"missing required input(s): {', '.join(self.missing)}")
        if self.unknown:
            from executor._suggest import did_you_mean

            hints = [did_you_mean(name, known_sorted) for name in self.unknown]
            named = ", ".join(
                f"{name} ({hint})" if hint else name
                for name, hint in zip(self.unknown, hints, strict=True)
            )
            parts.append(
                f"unknown input(s): {named} "
                f"(the flow's inputs are: {', '.join(known_sorted) or 'none'})"
            )
        clashing = sorted(set(reserved) & set(self.missing))
        if clashing:
            parts.append(
                f"{', '.join(clashing)} share(s) a name with a run option; pass it in the "
                f"mapping instead: flow.run({{{clashing[0]!r}: ...}})"
            )
        if self.changed:
            values = ", ".join(
                f"{name} from {_short(old)} to {_short(new)}"
                for name, (old, new) in self.changed.items()
            )
            parts.append(f"a resume cannot change stored input(s): {values}")
        if fix:
            parts.append(fix)
        super().__init__(f"flow {flow!r}: " + "; ".join(parts))


def _short(value: Any) -> str:
    """``repr(value)``, cut to a length a one-line message can carry."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class StepTimeout(FlowError, TimeoutError):
    """A step attempt ran longer than its ``timeout``.

    Recorded as the error of the step's :class:`~executor.StepResult` (status
    ``TIMED_OUT``); the run raises :class:`StepFailed` with this as its cause.
    """

    def __init__(self, address: str, timeout: float, attempt: int) -> None:
        self.address = address
        self.timeout = timeout
        self.attempt = attempt
        super().__init__(
            f"step {address!r} timed out after {timeout:g} s (attempt {attempt}); "
            f"raise @step(timeout=...) if the step is slow rather than stuck"
        )

    def __reduce__(self) -> tuple[type[StepTimeout], tuple[str, float, int]]:
        return (StepTimeout, (self.address, self.timeout, self.attempt))


class RecordedFailure(FlowError):
    """A step failure replayed from a test recording: the step was not called.

    Carries the recorded type name and message; ``str()`` is the message, so a
    replayed ``StepFailed`` reads like the live one. The type is never imported
    (a recording is data).

    Attributes:
        address: the step address.
        type_name: qualified name of the recorded exception type.
        message: the recorded message.
        status: ``"failed"`` or ``"timed_out"``.
    """

    def __init__(self, address: str, type_name: str, message: str, status: str = "failed") -> None:
        self.address = address
        self.type_name = type_name
        self.message = message
        self.status = status
        super().__init__(message)

    @property
    def short_type(self) -> str:
        """The type's name without its module, e.g. ``ConnectionRefusedError``."""
        return self.type_name.rsplit(".", 1)[-1]

    def __reduce__(self) -> tuple[Any, ...]:
        return (RecordedFailure, (self.address, self.type_name, self.message, self.status))


class StepFailed(FlowError):
    """A step failed (after its retries) and the run stopped.

    Attributes:
        address: the address of the failed step invocation, e.g. ``"report/enrich"``.
        cause: the exception of the step's last attempt.
        result: the partial :class:`~executor.FlowResult`, with every step that
            completed, failed, was cancelled or was skipped.
    """

    def __init__(
        self,
        address: str,
        cause: BaseException,
        result: FlowResult | None = None,
        *,
        attempts: int = 1,
    ) -> None:
        self.address = address
        self.cause = cause
        self.result = result
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        kind = cause.short_type if isinstance(cause, RecordedFailure) else type(cause).__name__
        # Not super(): in the subclasses below the next class is the cause's type, whose
        # constructor takes other arguments.
        FlowError.__init__(self, f"step {address!r} failed{tries}: {kind}: {cause}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The partial result stays behind when the error crosses a process line: it
        # holds every step's output, which need not pickle.
        attributes = {**self.__dict__, "result": None}
        if "last" in attributes:  # StepFailedOnLoopLimit
            attributes["last"] = _picklable_or_none(attributes["last"])
        return (_rebuilt, (type(self), self.args, attributes))


class RemoteStepError(FlowError):
    """A step failed in another process with an exception that cannot be pickled back.

    Carries the original type name, message and traceback text.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[type[RemoteStepError], tuple[str, str, str]]:
        return (RemoteStepError, (self.type_name, self.message, self.traceback_text))


class StepNotPicklable(FlowError, TypeError):
    """A step invocation could not be sent to, or back from, a worker process."""

    def __init__(
        self, address: str, what: str, error: BaseException, where: str = "a process executor"
    ) -> None:
        self.address = address
        super().__init__(
            f"step {address!r} cannot run on {where}: its {what} could not be "
            f"pickled ({type(error).__name__}: {error}). Define the step at module level "
            f"with picklable inputs and output, or use executor='threaded'"
        )


class ClusterError(FlowError):
    """A step's task on a Dask cluster cannot end, so the run does not wait for it.

    The engine watches the tasks it is waiting for and reports this as the step's
    failed attempt (its ``Retry`` policy applies) when the cluster has had no workers
    for a while, its scheduler stops answering, the task is gone from the scheduler,
    or the scheduler has the task's outcome but it never reaches this client.

    Attributes:
        address: the step's address.
        key: the Dask task key (as on Dask's dashboard).
    """

    def __init__(self, address: str, key: str, problem: str, fix: str) -> None:
        self.address = address
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(
            f'step {address!r} cannot end on executor="dask": {problem} (Dask task {key!r}). {fix}.'
        )

    def __reduce__(self) -> tuple[type[ClusterError], tuple[str, str, str, str]]:
        return (ClusterError, (self.address, self.key, self.problem, self.fix))


class MissingExtra(FlowError, ImportError):
    """An optional dependency a feature needs is not installed; names the extra."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        self.feature = feature
        self.module = module
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional dependency {module!r}, which is not installed; "
            f'install it with: pip install "flowexec[{extra}]"',
            name=module,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Through __init__: ImportError keeps ``name`` outside the instance dict.
        return (MissingExtra, (self.feature, self.module, self.extra))


class CodecError(FlowError, TypeError):
    """A value cannot be stored exactly, or stored data cannot be loaded.

    Raised when a value is written (it would not come back as itself: the message
    says why and what to return instead) and when data is read (malformed, or
    naming a class that is not available: import its module first, or register it
    with :func:`executor.register_type`).

    Attributes:
        where: what and where: the step address or file, then the path inside the
            value, e.g. ``"f/load output['rows'][3].when"``.
        problem: what is wrong and what to do.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[CodecError], tuple[str, str]]:
        return (CodecError, (self.where, self.problem))


class CacheKeyError(FlowError, TypeError):
    """An input has no stable encoding, so no cache key can be made for the call.

    Attributes:
        address: the step address (or step name outside a run).
        path: where the value sits, e.g. ``inputs.config['callback']``.
    """

    def __init__(self, address: str, path: str, kind: str) -> None:
        self.address = address
        self.path = path
        super().__init__(
            f"step {address!r}: no cache key: {path} is a {kind}, which has no stable "
            f"encoding. Give its type a __cache_key__() method returning plain data, or "
            f"choose what identifies a call with CachePolicy(key=lambda inputs: ...)"
        )


class Pause(FlowError):
    """Raised by a step to stop the run cleanly until someone resumes it.

    ``raise Pause("needs sign-off", awaiting="approval")`` ends the run with status
    AWAITING; ``flow.resume(state_id, store=..., inputs={"approval": True})``
    continues it, calling this step again with the new input.
    """

    def __init__(self, reason: str = "", awaiting: str | None = None) -> None:
        self.reason = reason
        self.awaiting = awaiting
        waits = f" (awaiting input {awaiting!r})" if awaiting else ""
        super().__init__(f"paused: {reason}{waits}")

    def __reduce__(self) -> tuple[type[Pause], tuple[str, str | None]]:
        return (Pause, (self.reason, self.awaiting))


class ReplayMismatch(FlowError):
    """A recorded run cannot stand in for a step call.

    Attributes:
        address: the step address.
        reason: ``"not recorded"``, ``"input changed"``, ``"code changed since
            recording"`` or ``"recording unused"``.
        nearest: the closest recorded address, when there is one (a typo, a moved
            step).
        detail: what changed, one line per changed parameter (and path inside it),
            with the recorded and the current value.
        fix: how to re-record (the test harness knows the test's id).
    """

    def __init__(
        self,
        address: str,
        reason: str,
        nearest: str | None = None,
        detail: str = "",
        fix: str = "",
    ) -> None:
        self.address = address
        self.reason = reason
        self.nearest = nearest
        self.detail = detail
        self.fix = fix
        hint = f"; nearest recorded address: {nearest!r}" if nearest else ""
        lines = [f"step {address!r}: replay mismatch: {reason}{hint}"]
        lines += ["  " + line for line in detail.splitlines()]
        if fix:
            lines.append(fix)
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReplayMismatch, (self.address, self.reason, self.nearest, self.detail, self.fix))


class LoopLimitReached(FlowError):
    """A loop ran ``max_iterations`` times without its ``until`` becoming true."""

    def __init__(self, address: str, max_iterations: int, last: Any) -> None:
        self.address = address
        self.max_iterations = max_iterations
        self.last = last
        super().__init__(
            f"step {address!r}: loop ran {max_iterations} iterations and until() never "
            f"returned true (last output: {last!r:.200}); raise max_iterations, or pass "
            f"stop_quietly=True to take the last output"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The last output goes along when it pickles (it is in the message too).
        last = _picklable_or_none(self.last)
        if last is self.last:
            return (LoopLimitReached, (self.address, self.max_iterations, last))
        return (_rebuilt, (LoopLimitReached, self.args, {**self.__dict__, "last": None}))


class ContextConflict(FlowError):
    """Two sibling branches changed one context field to different values."""

    def __init__(self, address: str, field: str, branches: Sequence[str]) -> None:
        self.address = address
        self.field = field
        self.branches = tuple(branches)
        super().__init__(
            f"step {address!r}: branches {', '.join(map(repr, self.branches))} both changed "
            f"context field {field!r} to different values; give each branch its own field, "
            f"or choose MergeStrategy.OVERWRITE or a merge function"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ContextConflict, (self.address, self.field, self.branches))


class StepFailedOnLoopLimit(StepFailed, LoopLimitReached):
    """The run stopped because a loop reached ``max_iterations``.

    Both a :class:`StepFailed` (``address``, ``cause``, ``result``) and a
    :class:`LoopLimitReached` (``max_iterations``, ``last``), so ``except
    LoopLimitReached`` and ``except StepFailed`` both catch it.
    """

    def __init__(
        self,
        address: str,
        cause: LoopLimitReached,
        result: FlowResult | None = None,
        *,
        attempts: int = 1,
    ) -> None:
        StepFailed.__init__(self, address, cause, result, attempts=attempts)
        self.max_iterations = cause.max_iterations
        self.last = cause.last


class StepFailedOnContextConflict(StepFailed, ContextConflict):
    """The run stopped because parallel branches changed one context field differently.

    Both a :class:`StepFailed` and a :class:`ContextConflict` (``field``, ``branches``),
    so ``except ContextConflict`` and ``except StepFailed`` both catch it.
    """

    def __init__(
        self,
        address: str,
        cause: ContextConflict,
        result: FlowResult | None = None,
        *,
        attempts: int = 1,
    ) -> None:
        StepFailed.__init__(self, address, cause, result, attempts=attempts)
        self.field = cause.field
        self.branches = cause.branches


def run_failure(
    address: str, cause: BaseException, result: FlowResult, *, attempts: int
) -> StepFailed:
    """The error a run raises for its first failed step.

    Names the innermost failing address (a composite's failure wraps its nested
    step's); an engine error a user catches by its own type (a loop limit, a context
    conflict) comes as a StepFailed that is also an instance of that type.
    """
    while isinstance(cause, StepFailed):
        address, attempts, cause = cause.address, cause.attempts, cause.cause
    if isinstance(cause, LoopLimitReached):
        return StepFailedOnLoopLimit(address, cause, result, attempts=attempts)
    if isinstance(cause, ContextConflict):
        return StepFailedOnContextConflict(address, cause, result, attempts=attempts)
    return StepFailed(address, cause, result, attempts=attempts)


class UsageError(FlowError, ValueError):
    """A ``flowexec`` command-line argument is wrong.

    The message is one line naming the argument, the bad value and the fix; the
    command prints it and exits with status 2.
    """


def os_error_reason(error: OSError) -> str:
    """The OS's own words for ``error`` without the path it names (the caller names
    the path in its own terms), e.g. ``"No space left on device"``."""
    return error.strerror or str(error) or type(error).__name__


def os_error_fix(error: OSError, path: str | os.PathLike[str], what: str = "the store") -> str:
    """What to do about a write to ``path`` (a file of ``what``) that the file system
    refused."""
    code = error.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "Free some disk space (or raise the quota) and try again"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Make {str(Path(path).parent)!r} writable, or point the store at a writable folder"
    if code in (errno.ENOTDIR, errno.EEXIST):
        blocking = _file_in_the_way(Path(path))
        if blocking is not None:
            return (
                f"{str(blocking)!r} is a file, not a folder: move it aside, or point "
                f"{what} at another path"
            )
    if code == errno.EIO:
        return "The disk or file system failed; check them and try again"
    return "Check that the path can be written to, then try again"


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` that exists and is not a folder, if any."""
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            return None if ancestor.is_dir() else ancestor
    return None
