"""Keeping freed memory for reuse (pbrsim/memory.py) changes how fast, never what."""

from __future__ import annotations

import sys

import pytest

from pbrsim.memory import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_freed_memory_takes_effect_once_and_again():
    """On glibc the thresholds are set; asking twice is harmless."""
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True


def test_results_do_not_depend_on_it():
    """A run in a process that keeps freed memory gives the same metrics, bit for bit, as one that does not."""
    import json
    import math
    import subprocess
    from pathlib import Path

    def metrics(keep: bool) -> dict:
        code = (
            "import json, sys\n"
            "from pbrsim.memory import keep_freed_memory\n"
            + ("keep_freed_memory()\n" if keep else "")
            + "sys.path.insert(0, '.')\n"
            "from tests.conftest import small\n"
            "from pbrsim.sim import run_scenario\n"
            "print(json.dumps(run_scenario(small('binary_pbr'), 7).metrics))\n"
        )
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    got, want = metrics(keep=True), metrics(keep=False)
    assert set(got) == set(want)
    for key, value in got.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert want[key] is None or math.isnan(want[key])
        else:
            assert value == want[key], key
