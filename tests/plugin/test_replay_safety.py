"""Replaying a recording never runs code the recording names (issue 9's payloads)."""

import json
import time

import pytest

TEST = """
    import app

    def test_report():
        app.report.run(url="https://example.org")
"""


def recording(pytester):
    return pytester.path / "fixtures" / "recordings" / "test_app" / "test_report.json"


@pytest.mark.parametrize("kind", ["popen", "module"])
def test_replay_never_calls_or_imports_what_a_recording_names(run, pytester, kind):
    pytester.makepyfile(test_app=TEST)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    touched = pytester.path / "touched"
    marker = pytester.path / "imported"
    pytester.makepyfile(
        flowexec_payload_module=f"with open({str(marker)!r}, 'w') as f:\n    f.write('ran')\n"
    )
    name = "subprocess:Popen" if kind == "popen" else "flowexec_payload_module:Thing"
    payload = {"$dataclass": {"type": name, "fields": {"args": ["touch", str(touched)]}}}
    data = json.loads(recording(pytester).read_text())
    data["runs"][0]["steps"]["report/fetch"]["output"] = payload
    recording(pytester).write_text(json.dumps(data, indent=2, sort_keys=True))

    result = run("--flow-replay")

    time.sleep(0.05)  # a spawned `touch` would have created it by now
    assert not touched.exists() and not marker.exists()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*CodecError: recording *test_report.json*, run 0: report/fetch output: *{name}*"]
    )
