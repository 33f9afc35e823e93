"""The typed codec: encoding and decoding step outputs, next to plain ``json``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from benchmarks._harness import Row, interleaved_medians
from benchmarks.bench_cache import kilobyte_dict
from executor._codec import JSON_CODEC

SUITE = "codec"


@dataclasses.dataclass(frozen=True)
class Reading:
    sensor: str
    at: dt.datetime
    values: tuple[float, ...]


def _rows(name: str, value: object, plain: object, n: int) -> Row:
    def codec() -> None:
        for _ in range(n):
            JSON_CODEC.decode(JSON_CODEC.encode(value))

    def floor() -> None:
        for _ in range(n):
            json.loads(json.dumps(plain))

    took, base = interleaved_medians(codec, floor, repeat=9)
    return Row(
        SUITE,
        f"encode + decode {name}",
        took / n * 1e6,
        "us",
        base / n * 1e6,
        "json.dumps + json.loads of its plain form",
    )


def run() -> list[Row]:
    payload = kilobyte_dict()
    readings = [
        Reading(f"s{i}", dt.datetime(2024, 1, 1, i % 24), (1.5, 2.5, float(i))) for i in range(50)
    ]
    plain_readings = [
        {"sensor": r.sensor, "at": r.at.isoformat(), "values": list(r.values)} for r in readings
    ]
    return [
        _rows("a ~1 KB dict", payload, payload, 2000),
        _rows("50 dataclasses (datetime, tuple)", readings, plain_readings, 200),
    ]
