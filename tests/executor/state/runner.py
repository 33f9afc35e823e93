"""Run as a process by the reliability tests: ``python -m ... KIND PATH COMMAND``."""

import sys

from executor.state import FileSystemStateBackend, SQLiteStateBackend
from tests.executor.state import state_steps as ss


def open_store(kind: str, path: str):
    return SQLiteStateBackend(path) if kind == "sqlite" else FileSystemStateBackend(path)


if __name__ == "__main__":
    kind, path, command = sys.argv[1:4]
    store = open_store(kind, path)
    if command == "items":
        ss.items().run(items=list(range(10)), store=store)
    elif command == "reports":
        for n in range(int(sys.argv[4])):
            ss.report().run(n=n, store=store)
