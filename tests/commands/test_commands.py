"""The `hf-pricer COMMAND` dispatcher (`hf_pricer/commands/__init__.py`)."""

from hf_pricer.commands import COMMANDS, main
from tests.data.test_entities import write_test_csv
from tests.utils import write_csv


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert all(f"  {name} " in usage for name in COMMANDS)


def test_unknown_command_is_refused(capsys):
    assert main(["train"]) == 2
    assert "unknown command 'train'" in capsys.readouterr().err


def test_a_command_gets_its_arguments_and_gives_its_exit_status(tmp_path):
    test_csv = write_test_csv(tmp_path)
    good = write_csv(tmp_path / "out.csv", ["index", "prediction"], [(i, "") for i in range(4)])
    assert main(["sanity", "--test_filename", str(test_csv), "--output_filename", str(good)]) == 0
    bad = write_csv(tmp_path / "bad.csv", ["index", "prediction"], [(0, "2 gms")])
    assert main(["sanity", "--test_filename", str(test_csv), "--output_filename", str(bad)]) == 1
