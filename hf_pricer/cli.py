"""What the recipes share: arguments from a YAML/JSON file and/or flags, and the common start of a run."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field

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


def _docstring_args(cls) -> dict[str, str]:
    """`name → first sentence of its description` from the `Args:` section of a config class's docstring."""
    doc = cls.__doc__ or ""
    helps, current = {}, None
    for line in doc.split("Args:", 1)[-1].splitlines():
        match = re.match(r"^\s{8}(\w+) \(.*?\):\s*(.*)$", line)
        if match:
            current = match.group(1)
            helps[current] = match.group(2).strip()
        elif current and line.startswith(" " * 12) and line.strip():
            helps[current] = (helps[current] + " " + line.strip()).strip()
        elif not line.strip() and current:
            current = None
    return {name: re.split(r"(?<=\.)\s", text, maxsplit=1)[0] for name, text in helps.items()}


def _flag_type(annotation):
    """A config field's annotation as the type of a command-line flag: `float | int` → float,
    `int | list[int]` → int, `list[int] | tuple[int, ...]` → list[int], `int | None` → int; None for what a
    flag cannot hold (sub-configs, mappings)."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    options = [option for option in options if option is not type(None)]
    for scalar in (float, int, bool, str):  # `float | int` is a float; `int | list[int]` an int
        if scalar in options:
            return scalar
    for option in options:
        if typing.get_origin(option) is list:
            element = typing.get_args(option)[0]
            if isinstance(element, types.UnionType):  # list[float | int] → list[float]
                element = float if float in typing.get_args(element) else None
            return list[element] if element in (float, int, str) else None
    return None


def config_arguments(config_class, exclude=(), include=None, name: str | None = None):
    """An argument dataclass with one flag per field of `config_class`, so that a recipe declares none of a
    model's hyperparameters again.

    Every flag defaults to None, which keeps the value of the recipe's preset or YAML file, else the
    config's own default; its help text is the field's description in the config docstring. Fields a flag
    cannot hold (sub-configs, mappings) and `exclude` are left out; `include` keeps only the fields it names.
    The dataclass's `config_kwargs()` returns the fields that were set.
    """
    helps = _docstring_args(config_class)
    base = {f.name for f in dataclasses.fields(transformers.PreTrainedConfig)}
    specs = []
    for config_field in dataclasses.fields(config_class):
        flag_type = _flag_type(config_field.type)
        if include is not None and config_field.name not in include:
            continue
        if config_field.name in base or config_field.name in exclude or flag_type is None:
            continue
        help_text = helps.get(config_field.name, "")
        specs.append((config_field.name, flag_type | None, field(default=None, metadata={"help": help_text})))

    def config_kwargs(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}

    return dataclasses.make_dataclass(
        name or f"{config_class.__name__.removesuffix('Config')}Arguments",
        specs,
        namespace={"config_kwargs": config_kwargs, "__doc__": f"The `{config_class.__name__}` hyperparameters."},
    )


def setup_recipe(training_args, streaming: bool = False) -> None:
    """Logging, verbosity and seed for a recipe run; a streamed dataset needs `max_steps`."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    set_seed(training_args.seed)
    if streaming and training_args.max_steps <= 0:
        raise ValueError("a streamed dataset has no length: pass --max_steps")


@dataclass
class RecordsDataArguments:
    """The data arguments of the recipes that train on labelled image records (`hf_pricer.data.records`): JSON
    record files, or the embedded catalog written in that format."""

    train_json: str | None = field(default=None, metadata={"help": "JSON records file; default: the catalog."})
    val_json: str | None = None
    target_names: list[str] = field(default_factory=lambda: ["length", "diameter"])
    catalog_dir: str = field(default="outputs/dual-embedding-catalog", metadata={"help": "Where the catalog goes."})
    catalog_size: int = 600

    def load(self, image_size: int, seed: int):
        """`(train, val)` datasets of validated records (`hf_pricer.data.records.load_train_val`)."""
        from hf_pricer.data.records import load_train_val

        return load_train_val(self.train_json, self.val_json, self.target_names, catalog_dir=self.catalog_dir,
                              catalog_size=self.catalog_size, image_size=image_size, seed=seed)
