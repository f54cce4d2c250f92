"""Checkpoints: a run killed with SIGKILL while saving resumes with `--resume_from_checkpoint true` to the same
weights and metrics as a run never killed; damaged checkpoints are skipped; nothing is deleted unasked."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from huggingface_hub import HfApi
from safetensors.torch import load_file
from transformers.trainer_utils import get_last_checkpoint

from hf_pricer import (
    PricerTrainer,
    PricerTrainingArguments,
    ResidualRegressorCollator,
    ResidualRegressorProcessor,
    compute_metrics,
)
from hf_pricer.checkpointing import checkpoint_problems
from tests.test_trainer import items, model, trainer_for
from tests.utils import REPO_ROOT

RECIPE_ARGS = [
    "--catalog_size", "120", "--num_features", "128", "--num_layers", "2", "--hidden_size", "16",
    "--max_steps", "8", "--per_device_train_batch_size", "16", "--save_strategy", "steps", "--save_steps", "2",
    "--save_total_limit", "2", "--eval_strategy", "no", "--load_best_model_at_end", "false",
    "--logging_steps", "1", "--disable_tqdm", "true", "--report_to", "none",
]


def run_recipe(output_dir, *extra, env=None, wait=True):
    command = [sys.executable, "-m", "tests.reliability.train_until_killed", *RECIPE_ARGS,
               "--output_dir", str(output_dir), *extra]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    if not wait:
        return process
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def final_state(output_dir):
    with open(os.path.join(output_dir, "eval_results.json")) as handle:
        metrics = json.load(handle)
    metrics = {key: value for key, value in metrics.items() if "runtime" not in key and "per_second" not in key}
    return metrics, load_file(os.path.join(output_dir, "model.safetensors"))


@pytest.mark.slow
def test_killed_during_a_save_resumes_to_the_uninterrupted_result(tmp_path):
    code, output = run_recipe(tmp_path / "straight")
    assert code == 0, output[-3000:]

    killed = tmp_path / "killed"
    marker = tmp_path / "hanging"
    process = run_recipe(killed, env={"HANG_AT_SAVE": "6", "HANG_MARKER": str(marker)}, wait=False)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the run never reached the save of checkpoint-6"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    # The half-written save is invisible: transformers' own search returns the last complete checkpoint.
    assert get_last_checkpoint(str(killed)) == str(killed / "checkpoint-4")
    assert sorted(os.listdir(killed)) == ["checkpoint-2", "checkpoint-4", "tmp-checkpoint-6"]

    code, output = run_recipe(killed)  # a fresh start over the checkpoints is refused, and deletes nothing
    assert code != 0 and "holds checkpoints of an earlier run (checkpoint-2, checkpoint-4)" in output
    assert (killed / "checkpoint-2").is_dir() and (killed / "checkpoint-4").is_dir()

    code, output = run_recipe(killed, "--resume_from_checkpoint", "true")
    assert code == 0, output[-3000:]
    assert "tmp-checkpoint-6: a checkpoint write that was interrupted" in output
    straight_metrics, straight_weights = final_state(tmp_path / "straight")
    resumed_metrics, resumed_weights = final_state(killed)
    assert resumed_metrics == straight_metrics
    assert straight_weights.keys() == resumed_weights.keys()
    for name, tensor in straight_weights.items():
        assert resumed_weights[name].equal(tensor), name
    assert sorted(name for name in os.listdir(killed) if name.startswith("checkpoint")) == [
        "checkpoint-6", "checkpoint-8"]  # save_total_limit 2, applied to this run's own checkpoints


def train_with_checkpoints(output_dir, max_steps, **args):
    trainer = trainer_for(output_dir, items(64), max_steps=max_steps, save_strategy="steps", save_steps=2, **args)
    trainer.train()
    return trainer


def test_truncated_weights_fall_back_to_the_previous_checkpoint(tmp_path, caplog):
    train_with_checkpoints(tmp_path, 6)
    weights = tmp_path / "checkpoint-6" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert get_last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-6")  # transformers would take it
    assert checkpoint_problems(str(tmp_path / "checkpoint-6"))[0].startswith("model.safetensors does not load")

    with caplog.at_level(logging.WARNING, logger="hf_pricer"):
        trainer = train_with_checkpoints(tmp_path, 8, resume_from_checkpoint="true")
    assert f"skipping incomplete checkpoint {tmp_path / 'checkpoint-6'}: model.safetensors does not load" in caplog.text
    assert trainer.state.global_step == 8
    # The damaged checkpoint is kept, moved aside, and the resumed run wrote a complete checkpoint-6.
    aside = [name for name in os.listdir(tmp_path) if name.startswith("superseded-")]
    assert len(aside) == 1 and os.listdir(tmp_path / aside[0]) == ["checkpoint-6"]
    assert checkpoint_problems(str(tmp_path / "checkpoint-6")) == []
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("checkpoint")) == [
        "checkpoint-2", "checkpoint-4", "checkpoint-6", "checkpoint-8"]


@pytest.mark.parametrize("damage", ["optimizer.pt", "rng_state.pth", "trainer_state.json", "scheduler.pt"])
def test_every_file_of_a_checkpoint_is_checked(tmp_path, damage):
    train_with_checkpoints(tmp_path, 2)
    (tmp_path / "checkpoint-2" / damage).write_bytes(b"")
    assert checkpoint_problems(str(tmp_path / "checkpoint-2")) == [f"{damage} is empty"]
    with pytest.raises(ValueError, match=rf"(?s)no complete checkpoint in .*checkpoint-2: {damage} is empty"):
        train_with_checkpoints(tmp_path, 4, resume_from_checkpoint="true")
    with pytest.raises(ValueError, match=rf"cannot resume from .*checkpoint-2: {damage} is empty"):
        train_with_checkpoints(tmp_path, 4, resume_from_checkpoint=str(tmp_path / "checkpoint-2"))


def test_a_partial_checkpoint_is_skipped(tmp_path):
    train_with_checkpoints(tmp_path, 4)
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"):
        os.remove(tmp_path / "checkpoint-4" / name)  # as a save killed after its config files
    problems = checkpoint_problems(str(tmp_path / "checkpoint-4"))
    assert problems[0] == "no weights (model.safetensors)" and "optimizer.pt is missing" in problems
    trainer = train_with_checkpoints(tmp_path, 6, resume_from_checkpoint="true")
    assert trainer.state.global_step == 6


def test_fresh_start_over_checkpoints_needs_overwrite_and_deletes_nothing(tmp_path):
    train_with_checkpoints(tmp_path, 4, save_total_limit=1)
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("checkpoint")) == ["checkpoint-4"]
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier run \(checkpoint-4\).*--overwrite_output_dir"):
        train_with_checkpoints(tmp_path, 2, save_total_limit=1)
    assert (tmp_path / "checkpoint-4").is_dir()

    train_with_checkpoints(tmp_path, 2, save_total_limit=1, overwrite_output_dir=True)
    aside = [name for name in os.listdir(tmp_path) if name.startswith("superseded-")]
    assert len(aside) == 1 and os.listdir(tmp_path / aside[0]) == ["checkpoint-4"]
    assert checkpoint_problems(str(tmp_path / aside[0] / "checkpoint-4")) == []
    assert get_last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-2")


def test_resume_from_a_missing_folder_or_no_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        train_with_checkpoints(tmp_path, 2, resume_from_checkpoint=str(tmp_path / "checkpoint-9"))
    with pytest.raises(ValueError, match="no complete checkpoint in"):
        train_with_checkpoints(tmp_path, 2, resume_from_checkpoint="true")


def test_the_best_checkpoint_is_recorded_where_it_lands(tmp_path):
    data = items(48)
    trainer = PricerTrainer(
        model=model(),
        args=PricerTrainingArguments(
            output_dir=str(tmp_path), use_cpu=True, report_to="none", disable_tqdm=True, max_steps=6,
            per_device_train_batch_size=8, save_strategy="steps", save_steps=2, eval_strategy="steps",
            eval_steps=2, load_best_model_at_end=True, metric_for_best_model="smape", greater_is_better=False,
            save_total_limit=1,
        ),
        train_dataset=data,
        eval_dataset=data,
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    best = trainer.state.best_model_checkpoint
    assert os.path.dirname(best) == str(tmp_path) and checkpoint_problems(best) == []
    with open(os.path.join(best, "trainer_state.json")) as handle:
        assert json.load(handle)["best_model_checkpoint"] == best
    assert [name for name in os.listdir(tmp_path) if "checkpoint" in name] == [os.path.basename(best)]


def test_pushed_checkpoints_are_complete(hub_server, tmp_path):
    trainer = trainer_for(tmp_path, items(32), max_steps=2, save_strategy="steps", save_steps=2, push_to_hub=True,
                          hub_model_id="tester/resumable", hub_strategy="checkpoint")
    trainer.train()
    files = set(HfApi().list_repo_files("tester/resumable"))
    assert {"last-checkpoint/model.safetensors", "last-checkpoint/optimizer.pt", "last-checkpoint/rng_state.pth",
            "model.safetensors"} <= files
