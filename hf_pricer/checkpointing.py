"""Which Trainer checkpoints can be resumed from, and where the ones that cannot go.

A checkpoint folder (`checkpoint-<step>`) is *complete* when every file a resume reads is there and loads:
the weights (`model.safetensors`, or every shard of its index, or `pytorch_model.bin`), `optimizer.pt`,
`scheduler.pt`, `trainer_state.json` and the RNG state of each process. Loading is checked cheaply: a
safetensors header must cover the whole file, torch files are memory-mapped (`weights_only=True`), JSON is
parsed. A truncated `model.safetensors` therefore makes its checkpoint incomplete, where
`transformers.trainer_utils.get_last_checkpoint` would still return it.

Checkpoints are never deleted here: those that must leave the way are moved into a `superseded-<UTC time>`
folder of the output directory, which no checkpoint search looks into.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time

import torch
from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME, TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

logger = logging.getLogger(__name__)

#: A checkpoint is written into `<output_dir>/tmp-checkpoint-<step>/checkpoint-<step>` and renamed into place
#: when complete; no checkpoint search matches this prefix.
STAGING_PREFIX = "tmp-"
SUPERSEDED_PREFIX = "superseded-"
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def checkpoint_step(path: str) -> int | None:
    """The step of a `checkpoint-<step>` folder name or path, None for other names."""
    match = _CHECKPOINT.match(os.path.basename(os.path.normpath(path)))
    return int(match.group(1)) if match else None


def list_checkpoints(folder: str) -> list[str]:
    """The `checkpoint-<step>` folders directly in `folder`, by step."""
    if not os.path.isdir(folder):
        return []
    found = [os.path.join(folder, name) for name in os.listdir(folder) if checkpoint_step(name) is not None]
    return sorted((path for path in found if os.path.isdir(path)), key=checkpoint_step)


def _load_problem(path: str) -> str | None:
    """Why the file at `path` does not load, None when it does."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return f"{name} is missing"
    if os.path.getsize(path) == 0:
        return f"{name} is empty"
    try:
        if name.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, "pt"):  # checks that the header's tensors fit in the file
                pass
        elif name.endswith(".json"):
            with open(path, encoding="utf-8") as handle:
                json.load(handle)
        else:
            from transformers.trainer_pt_utils import safe_globals

            with safe_globals():  # the RNG state holds NumPy arrays
                torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # noqa: BLE001 -- any failure to load means the file is damaged
        return f"{name} does not load ({type(error).__name__}: {error})"
    return None


def _weights_problem(folder: str) -> str | None:
    for index_name in (SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_INDEX_NAME):
        index_path = os.path.join(folder, index_name)
        if os.path.isfile(index_path):
            if problem := _load_problem(index_path):
                return problem
            with open(index_path, encoding="utf-8") as handle:
                shards = sorted(set(json.load(handle).get("weight_map", {}).values()))
            if not shards:
                return f"{index_name} lists no weight files"
            return next(filter(None, (_load_problem(os.path.join(folder, shard)) for shard in shards)), None)
    for name in (SAFE_WEIGHTS_NAME, WEIGHTS_NAME):
        if os.path.isfile(os.path.join(folder, name)):
            return _load_problem(os.path.join(folder, name))
    return f"no weights ({SAFE_WEIGHTS_NAME})"


def checkpoint_problems(
    folder: str, *, world_size: int = 1, model_only: bool = False, weights: bool = True
) -> list[str]:
    """What keeps `folder` from being a complete checkpoint; empty when it is complete.

    Args:
        world_size: processes of the run that wrote it (one RNG state file each).
        model_only: the run saved only the model (`save_only_model`): no optimizer, scheduler or RNG files.
        weights: check the model weights (False where DeepSpeed or FSDP store them in their own layout).
    """
    if not os.path.isdir(folder):
        return ["not a folder"]
    problems = [_weights_problem(folder)] if weights else []
    required = [TRAINER_STATE_NAME]
    if not model_only:
        required += [OPTIMIZER_NAME, SCHEDULER_NAME]
        required += ["rng_state.pth"] if world_size <= 1 else [f"rng_state_{i}.pth" for i in range(world_size)]
    problems += [_load_problem(os.path.join(folder, name)) for name in required]
    return [problem for problem in problems if problem]


def latest_complete_checkpoint(folder: str, **kwargs) -> tuple[str | None, dict[str, list[str]]]:
    """The latest complete checkpoint in `folder` (None if there is none) and, for each later one that is not
    complete, its problems. `kwargs` go to :func:`checkpoint_problems`; each skipped checkpoint is logged."""
    skipped = {}
    for path in reversed(list_checkpoints(folder)):
        problems = checkpoint_problems(path, **kwargs)
        if not problems:
            return path, skipped
        skipped[path] = problems
        logger.warning("skipping incomplete checkpoint %s: %s", path, "; ".join(problems))
    return None, skipped


def set_aside(paths: list[str], folder: str) -> str:
    """Move `paths` (checkpoints of `folder`) into a new `superseded-<UTC time>` folder of `folder`; returns it."""
    base = os.path.join(folder, SUPERSEDED_PREFIX + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    destination, suffix = base, 1
    while os.path.exists(destination):
        suffix += 1
        destination = f"{base}-{suffix}"
    os.makedirs(destination)
    for path in paths:
        shutil.move(path, os.path.join(destination, os.path.basename(path)))
    logger.warning("moved %s into %s", ", ".join(os.path.basename(p) for p in paths), destination)
    return destination


def remove_partial_writes(folder: str) -> None:
    """Delete the staging folders of checkpoint writes that were interrupted (never complete checkpoints)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.startswith(STAGING_PREFIX + PREFIX_CHECKPOINT_DIR + "-"):
            logger.warning("removing %s: a checkpoint write that was interrupted", os.path.join(folder, name))
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


__all__ = [
    "checkpoint_problems",
    "checkpoint_step",
    "latest_complete_checkpoint",
    "list_checkpoints",
    "remove_partial_writes",
    "set_aside",
]
