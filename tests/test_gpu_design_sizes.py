"""`benchmarks/gpu_design_sizes.py` (prepared for a GPU) builds both design configurations and trains, checked on a
CPU at tiny sizes."""

import json
import os
import subprocess
import sys

import pytest

from tests.utils import REPO_ROOT


@pytest.mark.slow
def test_gpu_design_sizes_script_runs_on_a_cpu_at_tiny_sizes(tmp_path):
    script = os.path.join(REPO_ROOT, "benchmarks", "gpu_design_sizes.py")
    result = subprocess.run([sys.executable, script, "--device", "cpu", "--tiny", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "gpu_design_sizes_tiny.json") as handle:
        rows = {row["model"]: row for row in json.load(handle)["results"]}
    assert set(rows) == {"dual", "residual"}
    for row in rows.values():
        assert row["steps_timed"] == 1 and row["samples_per_s"] > 0 and row["flops_per_step"] > 0
    assert (tmp_path / "gpu_design_sizes_tiny.md").is_file()
