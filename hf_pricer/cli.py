"""What the recipes share: arguments from a YAML/JSON file and/or flags, and the common start of a run."""

from __future__ import annotations

import json
import logging
import os
import sys

import transformers
import yaml
from transformers import HfArgumentParser, set_seed


def _config_to_flags(config: dict) -> list[str]:
    flags = []
    for key, value in config.items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, dict):
            value = json.dumps(value)
        if isinstance(value, (list, tuple)):
            flags += [f"--{key}", *map(str, value)]
        elif value is not None:
            flags += [f"--{key}", str(value)]
    return flags


def load_config_file(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) if path.endswith((".yaml", ".yml")) else json.load(handle)
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a recipe config must be a mapping of argument → value")
    return config


def parse_recipe_args(dataclass_types, default_config: str | None = None, args: list[str] | None = None):
    """Parse recipe arguments.

    `recipe.py config.yaml --flag value` reads the file and lets the flags override it. Without a
    config file, the flags override `default_config` (the recipe's small CPU preset).
    """
    args = sys.argv[1:] if args is None else list(args)
    if args and args[0].endswith((".yaml", ".yml", ".json")):
        if not os.path.isfile(args[0]):
            raise FileNotFoundError(f"recipe config file not found: {args[0]!r}")
        args = _config_to_flags(load_config_file(args[0])) + args[1:]
    elif default_config is not None:
        args = _config_to_flags(load_config_file(default_config)) + args
    parser = HfArgumentParser(dataclass_types)
    return parser.parse_args_into_dataclasses(args=args)


def setup_recipe(training_args, streaming: bool = False) -> None:
    """Logging, verbosity and seed for a recipe run; a streamed dataset needs `max_steps`."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    set_seed(training_args.seed)
    if streaming and training_args.max_steps <= 0:
        raise ValueError("a streamed dataset has no length: pass --max_steps")
