"""What the recipes share: arguments from a YAML/JSON file and/or flags, a short `--help`, one-line argument errors,
and the common start of a run.

This module imports only the standard library and yaml at module level, and a recipe reaches it without importing
the rest of hf_pricer (see `recipes/recipe_cli.py`): `--help` and argument errors answer before torch and
transformers are imported. A recipe names its argument dataclasses in `ARGUMENT_TYPES`; a model's hyperparameters
come from its config class as :class:`ConfigFlags` (read from the config's source for `--help`, built into a
dataclass by :func:`config_arguments` for a run), and the training arguments are named by import path
(`"hf_pricer.trainer:PricerTrainingArguments"`), both imported only when the arguments are parsed for a run.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import importlib.util
import json
import logging
import os
import re
import sys
import textwrap
import types
import typing
from dataclasses import dataclass, field

import yaml

HELP_FLAGS = ("-h", "--help")
HELP_ALL_FLAG = "--help-all"
HELP_WIDTH = 118
# Price-model config fields that a recipe computes from the training data, never flags.
PRICE_FIELDS_FROM_DATA = (
    "log_price_mean",
    "log_price_std",
    "interval_margin",
    "numeric_feature_names",
    "categorical_feature_names",
    "categorical_cardinalities",
)


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


# -- model hyperparameters as flags ----------------------------------------------------------------------------


def _docstring_args(doc: str | None) -> dict[str, str]:
    """`name → first sentence of its description` from the `Args:` section of a config class's docstring."""
    doc = textwrap.dedent(doc or "")
    helps, current = {}, None
    for line in doc.split("Args:", 1)[-1].splitlines():
        match = re.match(r"^\s{0,8}(\w+) \(.*?\):\s*(.*)$", line)
        if match and not line.startswith(" " * 9):
            current = match.group(1)
            helps[current] = match.group(2).strip()
        elif current and line.startswith("  ") and line.strip():
            helps[current] = (helps[current] + " " + line.strip()).strip()
        elif not line.strip() and current:
            current = None
    return {name: re.split(r"(?<=\.)\s(?=[A-Z`])", text, maxsplit=1)[0] for name, text in helps.items()}


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
    import transformers

    helps = _docstring_args(config_class.__doc__)
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


_ANNOTATION_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple,
                     "dict": dict, "None": None}


def _source_class(path: str) -> tuple[ast.ClassDef, str]:
    """The `ast` of class `module:Class`, read from the module's file without importing it (nor its package)."""
    module, class_name = path.split(":")
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)  # finds the top-level package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cannot find the package {top!r} of {path!r}")
    file = os.path.join(spec.submodule_search_locations[0], *rest) + ".py"
    with open(file, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), file)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return node, file
    raise ImportError(f"{file} defines no class {class_name!r}")


def _source_fields(node: ast.ClassDef) -> list[tuple[str, object, object]]:
    """`(name, annotation, default)` of a dataclass's own fields, from its source; the annotation is None where it
    names anything but builtins, the default `dataclasses.MISSING` where it is not a literal."""
    fields = []
    for statement in node.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        annotation_source = ast.unparse(statement.annotation)
        if annotation_source.startswith(("ClassVar", "typing.ClassVar")):
            continue
        try:
            annotation = eval(annotation_source, {"__builtins__": {}}, _ANNOTATION_NAMES)  # noqa: S307 -- names only
        except Exception:  # noqa: BLE001 -- a type we cannot name here is one a flag cannot hold
            annotation = None
        try:
            default = ast.literal_eval(statement.value) if statement.value is not None else dataclasses.MISSING
        except ValueError:
            default = dataclasses.MISSING
        fields.append((statement.target.id, annotation, default))
    return fields


def _dataclass_bases(node: ast.ClassDef, file: str) -> list[ast.ClassDef]:
    """The bases of a class that are dataclasses imported by name (`from x import PriceConfigMixin`), whose
    fields a config inherits, read from their source like the class itself."""
    with open(file, encoding="utf-8") as handle:
        imports = {
            alias.asname or alias.name: f"{statement.module}:{alias.name}"
            for statement in ast.parse(handle.read(), file).body
            if isinstance(statement, ast.ImportFrom) and statement.module
            for alias in statement.names
        }
    bases = []
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in imports:
            try:
                base_node, _ = _source_class(imports[base.id])
            except (ImportError, OSError):
                continue
            if any(ast.unparse(decorator).startswith(("dataclass", "dataclasses.dataclass"))
                   for decorator in base_node.decorator_list):
                bases.append(base_node)
    return bases


class ConfigFlags:
    """The flags of a model config's hyperparameters, named by import path (`"hf_pricer.models.x.configuration_x:
    XConfig"`): :meth:`resolve` imports the config and builds :func:`config_arguments`' dataclass; `--help` reads
    the fields, defaults and descriptions from the config's source instead, without importing anything."""

    def __init__(self, config: str, exclude=(), include=None, name: str | None = None):
        self.config, self.exclude, self.include, self.name = config, tuple(exclude), include, name
        self._dataclass = None

    @property
    def title(self) -> str:
        kind = " ".join(re.findall(r"[A-Z][a-z]*", self.name.removesuffix("Arguments"))).lower() if self.name else "model"
        return f"{kind} ({self.config.split(':')[1]})"

    def resolve(self):
        if self._dataclass is None:
            module, class_name = self.config.split(":")
            config_class = getattr(importlib.import_module(module), class_name)
            self._dataclass = config_arguments(config_class, self.exclude, self.include, self.name)
        return self._dataclass

    def help_fields(self) -> list[tuple[str, object, str]]:
        """`(name, default, help)` of each flag, read from the source."""
        node, file = _source_class(self.config)
        base_node, _ = _source_class("transformers.configuration_utils:PreTrainedConfig")
        base = {name for name, _, _ in _source_fields(base_node)}
        # the class's own fields, then those it inherits from dataclass bases (e.g. the price models'
        # PriceConfigMixin); a field the class re-declares keeps the class's default
        classes = [node, *_dataclass_bases(node, file)]
        helps, fields = {}, {}
        for class_node in classes:
            for name, text in _docstring_args(ast.get_docstring(class_node, clean=False)).items():
                helps.setdefault(name, text)
            for name, annotation, default in _source_fields(class_node):
                fields.setdefault(name, (annotation, default))
        result = []
        for name, (annotation, default) in fields.items():
            if self.include is not None and name not in self.include:
                continue
            if name in base or name in self.exclude or annotation is None or _flag_type(annotation) is None:
                continue
            result.append((name, None if default is dataclasses.MISSING else default, helps.get(name, "")))
        return result


def _resolve(argument_type):
    """A dataclass from an `ARGUMENT_TYPES` entry: a dataclass, :class:`ConfigFlags` or `"module:Class"`."""
    if isinstance(argument_type, ConfigFlags):
        return argument_type.resolve()
    if isinstance(argument_type, str):
        module, class_name = argument_type.split(":")
        return getattr(importlib.import_module(module), class_name)
    return argument_type


# -- parsing -----------------------------------------------------------------------------------------------------


class RecipeArgumentError(SystemExit):
    """A bad recipe argument: prints one line (`prog: error: ...`) and exits with status 2, as argparse does."""

    def __init__(self, message: str):
        self.message = message
        print(f"{os.path.basename(sys.argv[0]) or 'recipe'}: error: {message}", file=sys.stderr)
        super().__init__(2)


def _closest(name: str, valid, prefix: str = "") -> str:
    match = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean '{prefix}{match[0]}'?)" if match else ""


def _split_config_file(args: list[str], default_config: str | None) -> tuple[str | None, dict, list[str]]:
    """`(config file, its values, the flags)` of a recipe's arguments."""
    if args and args[0].endswith((".yaml", ".yml", ".json")):
        if not os.path.isfile(args[0]):
            raise RecipeArgumentError(f"recipe config file not found: {args[0]!r}")
        return args[0], load_config_file(args[0]), args[1:]
    if default_config is not None:
        return default_config, load_config_file(default_config), args
    return None, {}, args


def _flag_values(flags: list[str]) -> dict[str, list[str]]:
    """`--name v1 v2 --other=v` → `{"name": ["v1", "v2"], "other": ["v"]}` (for `--help` and key checks)."""
    values, current = {}, None
    for token in flags:
        if token.startswith("--") and len(token) > 2:
            name, _, value = token[2:].partition("=")
            current = values.setdefault(name, [])
            if value:
                current.append(value)
        elif current is not None:
            current.append(token)
    return values


def _check_keys(config_file: str | None, config: dict, flags: list[str], valid: set[str]) -> None:
    for key in config:
        if key not in valid:
            raise RecipeArgumentError(f"{config_file}: unknown key {key!r}{_closest(key, valid)}")
    for name in _flag_values(flags):
        if name not in valid:
            raise RecipeArgumentError(f"unknown flag --{name}{_closest(name, valid, '--')}")


def parse_recipe_args(dataclass_types, default_config: str | None = None, args: list[str] | None = None,
                      doc: str | None = None):
    """Parse recipe arguments.

    `recipe.py config.yaml --flag value` reads the file and lets the flags override it. Without a
    config file, the flags override `default_config` (the recipe's small CPU preset). `--help` prints the
    recipe's description (`doc`, the recipe's docstring), its own flags with the values this run would use and
    an example; `--help-all` every flag. A key in the file or a flag that no argument has, or a bad value, is a
    one-line error with exit status 2.
    """
    args = sys.argv[1:] if args is None else list(args)
    config_file, config, flags = _split_config_file(args, default_config)
    if any(flag in HELP_FLAGS for flag in flags):
        print(recipe_help(dataclass_types, config_file, config, flags, doc))
        raise SystemExit(0)
    resolved = [_resolve(argument_type) for argument_type in dataclass_types]
    from transformers import HfArgumentParser

    parser = HfArgumentParser(resolved)
    parser.usage = f"{os.path.basename(sys.argv[0])} [CONFIG.yaml] [--flag VALUE ...] (--help, --help-all)"
    if HELP_ALL_FLAG in flags:
        parser.print_help()
        raise SystemExit(0)
    valid = {action.dest for action in parser._actions} | {
        option[2:] for action in parser._actions for option in action.option_strings if option.startswith("--")
    }
    _check_keys(config_file, config, flags, valid)
    try:
        return parser.parse_args_into_dataclasses(args=_config_to_flags(config) + flags)
    except ValueError as error:  # a dataclass's own validation (e.g. TrainingArguments.__post_init__)
        raise RecipeArgumentError(str(error).strip().splitlines()[0]) from None


# -- `--help` ----------------------------------------------------------------------------------------------------


def _shown(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return " ".join(map(_shown, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _own_fields(argument_type) -> tuple[str, list[tuple[str, object, str]]]:
    """`(title, [(name, default, help)])` of one `ARGUMENT_TYPES` entry, without importing anything."""
    if isinstance(argument_type, ConfigFlags):
        return argument_type.title, argument_type.help_fields()
    words = re.findall(r"[A-Z][a-z]*|[a-z]+", argument_type.__name__.removesuffix("Arguments"))
    title = " ".join(words).lower() or argument_type.__name__
    rows = []
    for spec in dataclasses.fields(argument_type):
        if spec.default is not dataclasses.MISSING:
            default = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        else:
            default = None
        rows.append((spec.name, default, spec.metadata.get("help", "")))
    return title, rows


def _doc_parts(doc: str | None) -> tuple[str, list[str], str]:
    """A recipe docstring's first paragraph, its indented example commands and the paragraphs after them."""
    paragraphs = textwrap.dedent(doc or "").strip().split("\n\n")
    description = " ".join(paragraphs[0].split()) if paragraphs else ""
    examples, rest = [], []
    for paragraph in paragraphs[1:]:
        lines = paragraph.splitlines()
        if lines and all(line.startswith("    ") for line in lines if line.strip()):
            examples += [line.strip() for line in lines]
        else:
            rest.append(" ".join(paragraph.split()))
    return description, examples, " ".join(rest)


def _line(text: str) -> str:
    return text if len(text) <= HELP_WIDTH else text[: HELP_WIDTH - 1] + "…"


def recipe_help(dataclass_types, config_file: str | None, config: dict, flags: list[str], doc: str | None) -> str:
    """The recipe's short `--help`: description, its own flags with the values this run would use (the preset or
    YAML file, then the flags), the training arguments these set, example commands."""
    given = {name: values[0] if len(values) == 1 else values for name, values in _flag_values(flags).items()}
    given.pop("help", None), given.pop("h", None)
    description, examples, notes = _doc_parts(doc)
    prog = os.path.basename(sys.argv[0]) or "recipe.py"
    out = [f"usage: {prog} [CONFIG.yaml] [--flag VALUE ...]", ""]
    out += textwrap.wrap(description, HELP_WIDTH) + [""]
    source = f"{os.path.relpath(config_file)}, then the flags given" if config_file else "the flags given"
    out.append(f"Flags, with the values this run would use ({source}):")
    own = set()
    for argument_type in dataclass_types:
        if isinstance(argument_type, str):
            continue
        title, rows = _own_fields(argument_type)
        out.append(f"  {title}:")
        width = max((len(f"--{name} {_shown(given.get(name, config.get(name, default)))}") for name, default, _ in rows),
                    default=0)
        width = min(width, 48)
        for name, default, help_text in rows:
            own.add(name)
            value = _shown(given.get(name, config.get(name, default)))
            out.append(_line(f"    {f'--{name} {value}':<{width}}  {help_text}".rstrip()))
    training = {name: value for name, value in {**config, **given}.items() if name not in own}
    if training:
        out.append("  training (TrainingArguments):")
        listed = "  ".join(f"{name}={_shown(value)}" for name, value in training.items())
        out += textwrap.wrap(listed, HELP_WIDTH, initial_indent="    ", subsequent_indent="    ")
    if notes:
        out += [""] + textwrap.wrap(notes, HELP_WIDTH)
    if examples:
        out += ["", "Examples:"] + [f"  {example}" for example in examples]
    out += ["", "A CONFIG.yaml first replaces the preset; flags override it. `--help-all` lists every flag, with all "
            "of TrainingArguments'."]
    return "\n".join(out)


# -- the start of a run ------------------------------------------------------------------------------------------


def setup_recipe(training_args, streaming: bool = False) -> None:
    """Logging, verbosity and seed for a recipe run; a streamed dataset needs `max_steps`.

    hf_pricer and the recipe log at INFO; the 🤗 libraries stay at warning level (no config dumps) unless
    `--log_level info` (or `debug`) asks for theirs too."""
    import transformers

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if training_args.should_log and training_args.log_level not in ("passive", None):
        transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    else:
        transformers.utils.logging.set_verbosity_warning()
    transformers.set_seed(training_args.seed)
    if streaming and training_args.max_steps <= 0:
        raise ValueError("a streamed dataset has no length: pass --max_steps")


@dataclass
class RecordsDataArguments:
    """The data arguments of the recipes that train on labelled image records (`hf_pricer.data.records`): JSON
    record files, or the embedded catalog written in that format."""

    train_json: str | None = field(default=None, metadata={"help": "JSON records file; default: the catalog."})
    val_json: str | None = field(default=None, metadata={"help": "Validation records; default: the catalog's."})
    test_json: str | None = field(
        default=None, metadata={"help": "Held-out test records; default: --test_size of the training records."}
    )
    test_size: float = field(default=0.15, metadata={"help": "Training records held out as the test split."})
    target_names: list[str] = field(default_factory=lambda: ["length", "diameter"])
    catalog_dir: str = field(default="outputs/dual-embedding-catalog", metadata={"help": "Where the catalog goes."})
    catalog_size: int = 600

    def load(self, image_size: int, seed: int):
        """`(train, validation, test)` datasets of validated records (`hf_pricer.data.records.load_train_val`)."""
        from hf_pricer.data.records import load_records, load_train_val
        from hf_pricer.data.splits import hold_out

        train, val = load_train_val(self.train_json, self.val_json, self.target_names, catalog_dir=self.catalog_dir,
                                    catalog_size=self.catalog_size, image_size=image_size, seed=seed)
        if self.test_json:
            return train, val, load_records(self.test_json, self.target_names)[0]
        train, test = hold_out(train, self.test_size, seed, name="test")
        return train, val, test


@dataclass
class ItemsDataArguments:
    """The data arguments of the price recipes: items (`hf_pricer.data.load_items`) and how they are split
    (`hf_pricer.data.splits`)."""

    dataset: str = field(default="catalog", metadata={"help": "'catalog', a local items file or a Hub dataset id."})
    streaming: bool = field(default=False, metadata={"help": "Stream the dataset (needs --max_steps)."})
    catalog_size: int = field(default=2000, metadata={"help": "Items of the embedded catalog (split 80/10/10)."})
    text_fields: list[str] = field(default_factory=lambda: ["title", "text"], metadata={"help": "Fields read as text."})
    test_size: float = field(default=0.2, metadata={"help": "A single local file: share held out as the test split."})
    validation_size: float = field(
        default=0.1, metadata={"help": "Without a validation split: share (or count) of train held out for it."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training items."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N of each evaluation split."})

    def load(self, seed: int, **load_kwargs):
        """`(train, validation, test)` item datasets; `load_kwargs` go to `load_items` (images, image size)."""
        from hf_pricer.data import load_items
        from hf_pricer.data.splits import train_validation_test

        items = load_items(self.dataset, streaming=self.streaming, test_size=self.test_size,
                           catalog_size=self.catalog_size, seed=seed, **load_kwargs)
        return train_validation_test(items, self.validation_size, seed, self.max_train_samples, self.max_eval_samples)
