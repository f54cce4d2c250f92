"""`hf-pricer sanity` / `hf-pricer-sanity`: the challenge's submission checker on the command line."""

import os
import runpy
import shutil
import subprocess
import sys

import pytest

from tests.data.test_entities import write_test_csv
from tests.utils import write_csv


@pytest.fixture
def test_csv(tmp_path):
    return write_test_csv(tmp_path)


def test_sanity_cli(test_csv, tmp_path, monkeypatch, capsys):
    good = write_csv(tmp_path / "out.csv", ["index", "prediction"], [(i, "") for i in range(4)])
    bad = write_csv(tmp_path / "bad.csv", ["index", "prediction"], [(0, "2 gms")])
    from hf_pricer.commands.sanity import main

    assert main(["--test_filename", str(test_csv), "--output_filename", str(good)]) == 0
    assert main(["--test_filename", str(test_csv), "--output_filename", str(bad)]) == 1
    # the module entry point, as `python -m hf_pricer.commands.sanity` runs it
    argv = ["hf_pricer.commands.sanity", "--test_filename", str(test_csv), "--output_filename", str(bad)]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delitem(sys.modules, "hf_pricer.commands.sanity")  # imported above; `-m` starts from the package
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("hf_pricer.commands.sanity", run_name="__main__", alter_sys=True)
    assert exit_.value.code == 1
    assert "3 missing index(es): 1, 2, 3" in capsys.readouterr().err


@pytest.mark.slow
def test_sanity_console_script(test_csv, tmp_path):
    """`pip install hf_pricer` puts `hf-pricer-sanity` next to the interpreter."""
    script = shutil.which("hf-pricer-sanity", path=os.path.dirname(sys.executable))
    assert script is not None, "hf-pricer-sanity is not installed: reinstall the package (pip install -e .)"
    good = write_csv(tmp_path / "out.csv", ["index", "prediction"], [(i, "") for i in range(4)])
    result = subprocess.run(
        [script, "--test_filename", str(test_csv), "--output_filename", str(good)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Parsing successful" in result.stdout
