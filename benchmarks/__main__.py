"""Run every benchmark suite: ``python -m benchmarks [suite ...]``.

Each figure is printed next to a plain-Python baseline measured in the same run,
and written with the machine's facts to ``.flowexec/benchmarks/<suite>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import (
    bench_cache,
    bench_codec,
    bench_composites,
    bench_core,
    bench_dask,
    bench_plugin,
    bench_properties,
    bench_startup,
    bench_state,
)
from benchmarks._harness import report

SUITES = {
    "core": bench_core.run,
    "cache": bench_cache.run,
    "codec": bench_codec.run,
    "composites": bench_composites.run,
    "state": bench_state.run,
    "plugin": bench_plugin.run,
    "properties": bench_properties.run,
    "startup": bench_startup.run,
    "dask": bench_dask.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], help="default: all")
    parser.add_argument("--out", type=Path, default=Path(".flowexec/benchmarks"))
    args = parser.parse_args()
    rows = []
    for name in args.suites or list(SUITES):
        rows += SUITES[name]()
    report(rows, args.out)


if __name__ == "__main__":
    main()
