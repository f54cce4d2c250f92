"""Recipe arguments (`hf_pricer.cli`): a short `--help` answered before torch is imported, with the values the run
would use; one-line errors, exit status 2, for unknown keys and flags."""

import json
import os
import subprocess
import sys

import pytest
import train_dual
import train_residual

from hf_pricer.cli import parse_recipe_args
from tests.utils import RECIPES_DIR, REPO_ROOT

RECIPES = ["train_dual", "train_residual", "train_price", "train_resformer", "train_classifier",
           "train_dual_embedding", "train_aligner"]

# Runs each recipe's `--help` as `python recipes/<name>.py --help [ARGS]` would, in one fresh process, and reports
# the output and which heavy modules got imported.
HELP_PROBE = """
import contextlib, io, json, runpy, sys
recipes_dir, recipes, extra = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
sys.path.insert(0, recipes_dir)
report = {}
for name in recipes:
    sys.argv = [f"{recipes_dir}/{name}.py", *extra, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            code = None
        except SystemExit as exit:
            code = exit.code
    report[name] = {"code": code, "help": out.getvalue()}
report["imported"] = [name for name in ("torch", "transformers", "hf_pricer", "datasets") if name in sys.modules]
print(json.dumps(report))
"""


def run_help(recipes, *extra) -> dict:
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    result = subprocess.run([sys.executable, "-c", HELP_PROBE, RECIPES_DIR, ",".join(recipes), *extra],
                            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_recipe_answers_help_briefly_without_importing_torch():
    report = run_help(RECIPES)
    assert report.pop("imported") == []  # nor transformers, nor hf_pricer's package
    for name, answer in report.items():
        lines = answer["help"].splitlines()
        assert answer["code"] == 0, name
        assert 20 < len(lines) <= 80, (name, len(lines))
        assert lines[0].startswith(f"usage: {name}.py") and "Examples:" in lines and "--help-all" in lines[-1], name
        assert any(line.startswith("  model (") for line in lines), name  # the model's hyperparameters


def test_help_shows_the_values_this_run_would_use(tmp_path):
    preset = run_help(["train_dual"])["train_dual"]["help"]
    assert "--freeze_encoder_epochs 2 " in preset and "--image_size 160 " in preset  # the CPU preset's, not defaults
    assert "num_train_epochs=5" in preset and "output_dir=outputs/dual-catalog" in preset
    assert "Epochs with both encoders frozen." in preset and "Side of the square `pixel_values`" in preset
    config = tmp_path / "run.yaml"
    config.write_text("image_size: 96\nnum_train_epochs: 2\n")
    answer = run_help(["train_dual"], str(config), "--freeze_encoder_epochs", "3")["train_dual"]["help"]
    assert "--image_size 96 " in answer and "num_train_epochs=2" in answer and "--freeze_encoder_epochs 3 " in answer
    assert "--image_encoder efficientnet_b4 " in answer  # the YAML replaces the preset: the config's own default


def test_help_all_lists_every_training_argument(capsys):
    with pytest.raises(SystemExit) as exit:
        parse_recipe_args(train_residual.ARGUMENT_TYPES, train_residual.CPU_PRESET, ["--help-all"])
    assert exit.value.code == 0
    assert "--gradient_accumulation_steps" in capsys.readouterr().out


def test_unknown_key_in_a_config_file_names_the_file_key_and_closest_name(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rte: 0.001\n")
    with pytest.raises(SystemExit) as exit:
        parse_recipe_args(train_dual.ARGUMENT_TYPES, train_dual.CPU_PRESET, [str(config)])
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith(f"error: {config}: unknown key 'learning_rte' (did you mean 'learning_rate'?)")
    assert len(error.splitlines()) == 1


@pytest.mark.parametrize("flag, expected", [
    ("--learning_rte", "unknown flag --learning_rte (did you mean '--learning_rate'?)"),
    ("--freeze_encoder_epoch", "unknown flag --freeze_encoder_epoch (did you mean '--freeze_encoder_epochs'?)"),
    ("--projection_dimension", "unknown flag --projection_dimension (did you mean '--projection_dim'?)"),
])
def test_unknown_flag_names_the_flag_and_closest_name(flag, expected, capsys):
    with pytest.raises(SystemExit) as exit:
        parse_recipe_args(train_dual.ARGUMENT_TYPES, train_dual.CPU_PRESET, [flag, "1"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip().endswith(expected)


def test_an_invalid_value_is_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit:
        parse_recipe_args(train_residual.ARGUMENT_TYPES, train_residual.CPU_PRESET, ["--eval_strategy", "sometimes"])
    assert exit.value.code == 2
    assert len([line for line in capsys.readouterr().err.splitlines() if line.strip()]) <= 2


@pytest.mark.slow
def test_the_script_itself_exits_2_without_a_traceback(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rte: 0.001\n")
    result = subprocess.run(
        [sys.executable, os.path.join(RECIPES_DIR, "train_residual.py"), str(config)], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": REPO_ROOT}, cwd=tmp_path, timeout=300, check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train_residual.py: error: {config}: unknown key 'learning_rte' (did you mean 'learning_rate'?)"
    )
