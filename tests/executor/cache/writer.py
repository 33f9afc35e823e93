"""Run as a process: writes ``count`` entries tagged ``tag`` to a SQLite cache."""

import sys

from executor.cache import SQLiteCache

if __name__ == "__main__":
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = SQLiteCache(path)
    for i in range(count):
        cache.put(f"{tag}-{i}", f'"{tag} value {i}"')
