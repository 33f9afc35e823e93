"""Replayed flow results must equal the live ones exactly.

Each dump file holds one test's results: ``address<TAB>status<TAB>repr(output)`` per
step invocation, in result order, then the outputs. A replayed step reports
``replayed`` where the live run said ``completed``; everything else is compared as
text, so a missing nested address, another type or another dict order all show.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path


def normalized(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        address, status, output = line.split("\t", 2)
        if status == "replayed":
            status = "completed"
        lines.append(f"{address}\t{status}\t{output}")
    return lines


def main(live_dir: str, *replay_dirs: str) -> int:
    live = {p.name: p for p in Path(live_dir).glob("*.txt")}
    if not live:
        print(f"no live dumps in {live_dir}")
        return 1
    differences = 0
    for replay_dir in replay_dirs:
        replayed = {p.name: p for p in Path(replay_dir).glob("*.txt")}
        for name in sorted(live.keys() - replayed.keys()):
            print(f"{replay_dir}: {name} has no replayed result")
            differences += 1
        for name in sorted(live.keys() & replayed.keys()):
            diff = list(
                difflib.unified_diff(
                    normalized(live[name]),
                    normalized(replayed[name]),
                    f"live/{name}",
                    f"{Path(replay_dir).name}/{name}",
                    lineterm="",
                )
            )
            if diff:
                differences += 1
                if differences == 1:  # one diff in full; the others by name
                    print("\n".join(diff))
                else:
                    print(f"differs too: {Path(replay_dir).name}/{name}")
    print(
        f"compared {len(live)} live result(s) with {len(replay_dirs)} replay(s): "
        f"{differences} difference(s)"
    )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
