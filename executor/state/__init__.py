"""Persistent runs: state backends, resume, replay, validation and diffs.

Example:
    >>> from executor.state import SQLiteStateBackend
    >>> store = SQLiteStateBackend(".flowexec/state.db")        # doctest: +SKIP
    >>> result = flow.run(path="data.csv", store=store)         # doctest: +SKIP
    >>> store.load(result.state_id).status                      # doctest: +SKIP
    <StateStatus.COMPLETED: 'completed'>
"""

from executor.state._diff import OutputChange, StateDiff, diff_states
from executor.state._files import FileSystemArtifactBackend, FileSystemStateBackend
from executor.state._memory import MemoryStateBackend
from executor.state._model import (
    ExecutionState,
    StateCorrupted,
    StateError,
    StateEvent,
    StateMetadata,
    StateNotFound,
    StateStatus,
    StateSummary,
    StateWriteFailed,
)
from executor.state._report import DeterminismReport, Mismatch
from executor.state._sqlite import SQLiteStateBackend
from executor.state._store import (
    ArtifactBackend,
    ArtifactCorrupted,
    ArtifactMissing,
    MemoryArtifactBackend,
    StateStore,
)

__all__ = [
    "ArtifactBackend",
    "ArtifactCorrupted",
    "ArtifactMissing",
    "DeterminismReport",
    "ExecutionState",
    "FileSystemArtifactBackend",
    "FileSystemStateBackend",
    "MemoryArtifactBackend",
    "MemoryStateBackend",
    "Mismatch",
    "OutputChange",
    "SQLiteStateBackend",
    "StateCorrupted",
    "StateDiff",
    "StateError",
    "StateEvent",
    "StateMetadata",
    "StateNotFound",
    "StateStatus",
    "StateStore",
    "StateSummary",
    "StateWriteFailed",
    "diff_states",
]
