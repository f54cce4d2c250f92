"""`PricerTrainer`: the one Trainer of hf_pricer, and the callbacks its models share.

What it adds to `transformers.Trainer`:

- **Exact losses in `compute_loss`.** The model's summed micro-batch loss
  (:class:`hf_pricer.modeling_utils.PricerLossMixin`; for price models the loss named by
  `config.loss_type`: SMAPE, L1/Huber/MSE on the standardized log price) is divided by the number of
  loss items in the *whole* accumulated (and, across processes, gathered) batch, so gradient
  accumulation 4 × 8 gives exactly the gradient of one batch of 32, also when the last micro-batch
  is short.
- **Per-module learning rates** (`module_learning_rates={"image_encoder": 1e-4, ...}`), every other
  parameter at `learning_rate`, and **layer-wise learning-rate decay** (`layer_lr_decay=0.8`: each numbered
  layer of an encoder learns at 0.8× the rate of the layer above it). Frozen parameters stay in the optimizer
  so they can be unfrozen later.
- **`FreezeWarmupCallback`**: modules frozen until a given epoch (the dual encoder's design trains only
  the fusion head for 4 epochs, then everything).
- **Eval-mode collators.** A data collator with a `for_eval()` method (e.g. one that augments images
  for training) is replaced by `for_eval()`'s collator in evaluation and prediction dataloaders.
- `remove_unused_columns=False` by default: the collators build model inputs from raw dataset columns.
- **Runs that resume.** `train()` honours `args.resume_from_checkpoint` (`--resume_from_checkpoint PATH|true`),
  so every script that parses the flag resumes; `true` takes the latest *complete* checkpoint
  (:mod:`hf_pricer.checkpointing`), skipping damaged ones with a warning. A checkpoint is written into a
  temporary folder and renamed into place when complete, so a run killed while saving leaves no partial
  `checkpoint-N`. A fresh start in an output directory holding checkpoints is an error unless
  `--overwrite_output_dir`, which moves them aside; no checkpoint is deleted but by `save_total_limit`, among
  the run's own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from transformers import (
    PreTrainedModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, PredictionOutput, rotate_checkpoints
from transformers.utils import CONFIG_NAME, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from . import checkpointing
from .hub import SplitMetrics
from .modeling_utils import PriceModelMixin, PricerLossMixin

logger = logging.getLogger(__name__)


@dataclass
class PricerTrainingArguments(TrainingArguments):
    """`TrainingArguments` with hf_pricer's defaults, per-module learning rates and fast CPU training by default.

    Where training runs on a CPU (`use_cpu`, or no accelerator), `bf16` and `tune_malloc` left unset turn on
    bf16 autocast (if the CPU has native bf16: AVX512-BF16 or AMX) and glibc malloc tuning (see
    `hf_pricer.performance`); with `transformers`' default fused AdamW that is the CPU speed measured in
    `benchmarks/results/residual_throughput.md`. `fast_cpu_defaults=False` (or `bf16=False`,
    `tune_malloc=False` one by one) trains as `transformers.TrainingArguments` would.
    """

    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "hf_pricer collators read raw dataset columns (text, image), so keep them."},
    )
    module_learning_rates: dict | str | None = field(
        default=None,
        metadata={
            "help": "Learning rate per parameter-name prefix, e.g. '{\"image_encoder\": 1e-4, \"text_encoder\": 2e-5}'. "
            "Parameters matching no prefix use `learning_rate`."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start afresh in an `output_dir` that holds checkpoints (without it, that is an error). They are "
            "moved into a `superseded-<time>` folder there, not deleted."
        },
    )

    layer_lr_decay: float = field(
        default=1.0,
        metadata={
            "help": "Layer-wise learning-rate decay: in every stack of numbered layers (`encoder.layer.3`, "
            "timm `blocks.2`), layer i of N learns at decay^(N - 1 - i) times its module's rate, and the "
            "embeddings beside the stack at decay^N. 1 turns it off."
        },
    )
    layer_lr_decay_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Parameter-name prefixes the decay applies to (e.g. text_encoder); default: all."},
    )

    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 mixed precision (autocast); the weights stay fp32. Unset: on when training runs on a CPU "
            "with native bf16 (AVX512-BF16 or AMX) and --fast_cpu_defaults is on, else off."
        },
    )
    tune_malloc: bool | None = field(
        default=None,
        metadata={
            "help": "glibc mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GiB, M_TOP_PAD=1 GiB) when training starts: large "
            "tensors reuse heap memory instead of fresh pages, and the process keeps freed memory until it exits. "
            "Unset: on when training runs on a CPU under glibc and --fast_cpu_defaults is on."
        },
    )
    fast_cpu_defaults: bool = field(
        default=True,
        metadata={"help": "Resolve unset --bf16 and --tune_malloc to on for CPU training; false: both off."},
    )

    def __post_init__(self):
        if not 0 < self.layer_lr_decay <= 1:
            raise ValueError(f"`layer_lr_decay` must be in (0, 1], got {self.layer_lr_decay}")
        self._resolve_cpu_defaults()
        if isinstance(self.module_learning_rates, str):
            try:
                self.module_learning_rates = json.loads(self.module_learning_rates)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"`module_learning_rates` must be a JSON object of prefix → learning rate, got "
                    f"{self.module_learning_rates!r}"
                ) from error
        for prefix, lr in (self.module_learning_rates or {}).items():
            if not isinstance(lr, (int, float)) or lr < 0:
                raise ValueError(f"`module_learning_rates[{prefix!r}]` must be a non-negative number, got {lr!r}")
        super().__post_init__()

    def _resolve_cpu_defaults(self) -> None:
        from .performance import cpu_has_native_bf16, malloc_tunable

        on_cpu = self.use_cpu or not torch.accelerator.is_available()
        fast = self.fast_cpu_defaults and on_cpu
        if self.bf16 is None:
            self.bf16 = fast and not self.fp16 and cpu_has_native_bf16()
            if self.bf16:
                self.use_cpu = True  # transformers accepts bf16 without an accelerator only with `use_cpu`
        if self.tune_malloc is None:
            self.tune_malloc = fast and malloc_tunable()


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# A numbered layer of a stack: `text_encoder.encoder.layer.3.` (BERT), `image_encoder.blocks.2.` (timm).
_LAYER = re.compile(r"^(?P<stack>.*?\.?(?:layer|layers|blocks|block|h))\.(?P<index>\d+)\.")


def layer_lr_scales(names: list[str], decay: float, modules: list[str] | None = None) -> dict[str, float]:
    """Learning-rate multiplier of each parameter under layer-wise decay (1.0 for parameters outside any
    stack).

    In a stack of N numbered layers, layer i gets `decay ** (N - 1 - i)` (the top layer keeps its rate); the
    parameters beside the stack whose name says `embed` (the encoder's embeddings, below every layer) get
    `decay ** N`. `modules` restricts the decay to parameters under these prefixes.
    """
    depths: dict[str, int] = {}
    for name in names:
        if (match := _LAYER.match(name)) and (modules is None or any(_matches(name, m) for m in modules)):
            depths[match["stack"]] = max(depths.get(match["stack"], 0), int(match["index"]) + 1)
    scales = {}
    for name in names:
        match = _LAYER.match(name)
        if match and match["stack"] in depths:
            scales[name] = decay ** (depths[match["stack"]] - 1 - int(match["index"]))
            continue
        # The embeddings of a stack's encoder: the stack's path up to its encoder module, e.g. `text_encoder`.
        owner = next((stack for stack in depths if name.startswith(stack.split(".")[0] + ".")), None)
        scales[name] = decay ** depths[owner] if owner is not None and "embed" in name else 1.0
    return scales


def module_parameter_groups(
    model: torch.nn.Module,
    learning_rate: float,
    weight_decay: float,
    module_learning_rates: Mapping[str, float] | None = None,
    decay_parameter_names: set[str] | None = None,
    layer_lr_decay: float = 1.0,
    layer_lr_decay_modules: list[str] | None = None,
) -> list[dict]:
    """Optimizer parameter groups: one learning rate per module prefix (scaled per layer under layer-wise
    decay, see [`layer_lr_scales`]), weight decay only where it belongs.

    Every parameter is included, trainable or not, so that a module unfrozen later is already being
    optimised. The longest matching prefix wins; a prefix that matches no parameter is an error.
    """
    module_learning_rates = dict(module_learning_rates or {})
    names = [name for name, _ in model.named_parameters()]
    for prefix in [*module_learning_rates, *(layer_lr_decay_modules or [])]:
        if not any(_matches(name, prefix) for name in names):
            raise ValueError(
                f"prefix {prefix!r} (of `module_learning_rates` or `layer_lr_decay_modules`) matches no "
                f"parameter of {type(model).__name__}; top-level modules are "
                f"{sorted({name.split('.')[0] for name in names})}"
            )
    scales = layer_lr_scales(names, layer_lr_decay, layer_lr_decay_modules) if layer_lr_decay != 1 else {}
    prefixes = sorted(module_learning_rates, key=len, reverse=True)
    groups: dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        prefix = next((p for p in prefixes if _matches(name, p)), None)
        scale = scales.get(name, 1.0)
        lr = module_learning_rates.get(prefix, learning_rate) * scale
        decay = weight_decay if decay_parameter_names is None or name in decay_parameter_names else 0.0
        group = groups.setdefault(
            (prefix, decay, scale), {"params": [], "lr": lr, "weight_decay": decay, "module": prefix}
        )
        group["params"].append(param)
    return list(groups.values())


class FinalEvaluation(NamedTuple):
    """The `PredictionOutput`s of `PricerTrainer.finish`: the validation split and the held-out test split."""

    validation: PredictionOutput | None
    test: PredictionOutput | None


def _num_examples(output: PredictionOutput) -> int:
    predictions = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    return len(predictions)


class PricerTrainer(Trainer):
    """`Trainer` for hf_pricer models; see the module docstring for what it adds."""

    # `compute_loss` normalises by the item count of the whole accumulated batch itself.
    loss_is_scaled_for_ga = True

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        num_items = None
        if batch_samples and all("labels" in batch for batch in batch_samples):
            model = self._loss_model(self.model)
            count = sum(int(model.num_loss_items(batch["labels"])) for batch in batch_samples)
            num_items = torch.tensor(count, device=device)
            if self.args.world_size > 1:
                num_items = self.accelerator.gather(num_items).sum()
        return batch_samples, num_items

    def _loss_model(self, model) -> PricerLossMixin:
        model = self.accelerator.unwrap_model(model)
        if not isinstance(model, PricerLossMixin):
            raise TypeError(
                f"PricerTrainer trains models that implement `hf_pricer.modeling_utils.PricerLossMixin`; "
                f"{type(model).__name__} does not"
            )
        return model

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels", None)
        outputs = model(**inputs)
        if labels is None:
            if model.training:
                raise ValueError("PricerTrainer needs `labels` in every training batch")
            return (None, outputs) if return_outputs else None
        loss_model = self._loss_model(model)
        loss = loss_model.loss_sum(outputs, labels)
        if num_items_in_batch is None:
            loss = loss / max(int(loss_model.num_loss_items(labels)), 1)
        else:
            loss = loss / num_items_in_batch.to(loss.device).clamp(min=1)
            if self.args.world_size > 1:
                # DDP averages gradients over processes; the count above is already the global one.
                loss = loss * self.args.world_size
        outputs["loss"] = loss
        return (loss, outputs) if return_outputs else loss

    @contextmanager
    def _eval_collator(self):
        train_collator = self.data_collator
        for_eval = getattr(train_collator, "for_eval", None)
        if callable(for_eval):
            self.data_collator = for_eval()
        try:
            yield
        finally:
            self.data_collator = train_collator

    def get_eval_dataloader(self, eval_dataset=None):
        with self._eval_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._eval_collator():
            return super().get_test_dataloader(test_dataset)

    def create_optimizer(self, model=None):
        opt_model = self.model if model is None else model
        if self.optimizer is None:
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            groups = module_parameter_groups(
                opt_model,
                learning_rate=self.args.learning_rate,
                weight_decay=self.args.weight_decay,
                module_learning_rates=getattr(self.args, "module_learning_rates", None),
                decay_parameter_names=set(self.get_decay_parameter_names(opt_model)),
                layer_lr_decay=getattr(self.args, "layer_lr_decay", 1.0),
                layer_lr_decay_modules=getattr(self.args, "layer_lr_decay_modules", None),
            )
            # One line per learning rate: a module's decayed and undecayed parameters are two groups of one rate.
            counts: dict[tuple, int] = {}
            for group in groups:
                key = (group["module"], group["lr"])
                counts[key] = counts.get(key, 0) + len(group["params"])
            if len(counts) > 1:
                for (module, lr), count in counts.items():
                    logger.info("learning rate %g for %s (%d tensors)", lr, module or "the other parameters", count)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, **kwargs):
        """`Trainer.train`, resuming from `args.resume_from_checkpoint` when no checkpoint is passed.

        `resume_from_checkpoint`: a checkpoint folder, which must be complete, or `True`/`"true"` for the latest
        complete checkpoint in `output_dir`. Hyperparameter-search trials are left to `Trainer` as they are.
        `args.tune_malloc` is applied first, before training allocates its gradients, optimizer state and
        autocast copies.
        """
        if getattr(self.args, "tune_malloc", False):
            from .performance import tune_malloc

            tune_malloc()
        if self.args.device.type == "cpu" and hasattr(self.args, "fast_cpu_defaults"):
            logger.info("training on the CPU: bf16 autocast %s, optimizer %s, glibc malloc tuning %s "
                        "(--fast_cpu_defaults false: transformers' defaults)", "on" if self.args.bf16 else "off",
                        getattr(self.args.optim, "value", self.args.optim), "on" if self.args.tune_malloc else "off")
        if trial is None:
            if resume_from_checkpoint is None:
                resume_from_checkpoint = self.args.resume_from_checkpoint
            resume_from_checkpoint = self._checked_resume(resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)

    def _checkpoint_kwargs(self) -> dict:
        return {
            "world_size": self.args.world_size,
            "model_only": self.args.save_only_model,
            "weights": not (self.is_deepspeed_enabled or self.is_fsdp_enabled),
        }

    def _checked_resume(self, resume: str | bool | None) -> str | None:
        """The checkpoint to resume from (None to start afresh), with `output_dir` made ready for the run."""
        if isinstance(resume, str) and resume.strip().lower() in ("", "false", "true"):
            resume = resume.strip().lower() == "true"
        run_dir = self.args.output_dir
        skipped = {}
        if resume is True:
            resume, skipped = checkpointing.latest_complete_checkpoint(run_dir, **self._checkpoint_kwargs())
            if resume is None:
                found = "".join(f"\n  {path}: {'; '.join(problems)}" for path, problems in skipped.items())
                raise ValueError(
                    f"--resume_from_checkpoint true: no complete checkpoint in {run_dir}"
                    + (f"; incomplete ones:{found}" if found else "")
                )
            logger.info("resuming from %s", resume)
        elif resume:
            if not os.path.isdir(resume):
                raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint folder {resume!r}")
            if problems := checkpointing.checkpoint_problems(resume, **self._checkpoint_kwargs()):
                raise ValueError(f"cannot resume from {resume}: {'; '.join(problems)}")
        else:
            resume = None
        # Checkpoints after the starting point belong to another run, as do all of them when it is elsewhere.
        resumed_here = resume is not None and os.path.realpath(os.path.dirname(os.path.normpath(resume))) == (
            os.path.realpath(run_dir)
        )
        start = (checkpointing.checkpoint_step(resume) or 0) if resumed_here else 0
        later = [path for path in checkpointing.list_checkpoints(run_dir) if checkpointing.checkpoint_step(path) > start]
        damaged = [path for path in later if path in skipped]
        earlier_run = [path for path in later if path not in skipped]
        if earlier_run and not self.args.overwrite_output_dir:
            names = ", ".join(os.path.basename(path) for path in earlier_run)
            where = f"from {resume}" if resume else "afresh"
            raise ValueError(
                f"{run_dir} holds checkpoints of an earlier run ({names}) that this run, starting {where}, would "
                "overwrite. Pass --resume_from_checkpoint true to continue the latest, --overwrite_output_dir to "
                "start anyway (they are moved into a `superseded-<time>` folder there), or another --output_dir."
            )
        if self.args.should_save:
            checkpointing.remove_partial_writes(run_dir)
            if damaged or earlier_run:
                checkpointing.set_aside(damaged + earlier_run, run_dir)
        self.accelerator.wait_for_everyone()
        return resume

    _staging_dir: str | None = None
    _pending_push = False

    def _get_output_dir(self, trial) -> str:
        # While a checkpoint is being written, `Trainer._save_checkpoint` writes it under the staging folder.
        return self._staging_dir if self._staging_dir is not None else super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """Write the checkpoint into `tmp-checkpoint-N/` and rename it to `checkpoint-N` once complete."""
        run_dir = self._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = os.path.join(run_dir, checkpointing.STAGING_PREFIX + name)
        final = os.path.join(run_dir, name)
        self._staging_dir, self._pending_push = staging, False
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        # `Trainer` records the best checkpoint where it found it: under the staging folder, or not at all.
        best_step = self.state.best_global_step
        if best_step and (best_step == self.state.global_step or os.path.isdir(
                os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{best_step}"))):
            self.state.best_model_checkpoint = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{best_step}")
        self.accelerator.wait_for_everyone()  # every process has written its RNG state
        if self.args.should_save:
            self.state.save_to_json(os.path.join(staging, name, TRAINER_STATE_NAME))
            if os.path.exists(final):  # e.g. a hyperparameter-search trial run again in the same output_dir
                checkpointing.set_aside([final], run_dir)
            os.replace(os.path.join(staging, name), final)
            shutil.rmtree(staging, ignore_errors=True)
            rotate_checkpoints(run_dir, self.args.save_total_limit, self.state.best_model_checkpoint)
        self.accelerator.wait_for_everyone()
        if self._pending_push:
            super()._push_from_checkpoint(final)

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        if self._staging_dir is not None:  # the upload reads the files: wait until they have their final place
            self._pending_push = True
        else:
            super()._push_from_checkpoint(checkpoint_folder)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        if not self._load_pretrained_weights(resume_from_checkpoint, model):
            super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _load_best_model(self) -> None:
        if self._load_pretrained_weights(self.state.best_model_checkpoint):
            logger.info("loaded the best model from %s (score %s)", self.state.best_model_checkpoint,
                        self.state.best_metric)
        else:
            super()._load_best_model()

    def _load_pretrained_weights(self, checkpoint: str, model=None) -> bool:
        """Load a checkpoint's weights into the model through `from_pretrained`.

        transformers 5 saves some sub-models under their legacy parameter names (ViT's
        `attention.attention.query` for `attention.q_proj`) and maps them back only in `from_pretrained`;
        `Trainer`'s own loader reads the raw file and would leave those weights as they were, with a warning.
        Returns False where `Trainer`'s loader applies (DeepSpeed, FSDP, non-`PreTrainedModel`s, PEFT).
        """
        model = self.accelerator.unwrap_model(model if model is not None else self.model)
        weight_files = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)
        has_weights = any(os.path.isfile(os.path.join(checkpoint, name)) for name in weight_files)
        if (
            self.is_deepspeed_enabled
            or self.is_fsdp_enabled
            or not isinstance(model, PreTrainedModel)
            or not has_weights
            or not os.path.isfile(os.path.join(checkpoint, CONFIG_NAME))
        ):
            return False
        loaded = type(model).from_pretrained(checkpoint, dtype=model.dtype)
        model.load_state_dict(loaded.state_dict(), strict=True)
        return True

    def finish(self, eval_dataset=None, dataset_name: str | None = None, on_evaluation=None, test_dataset=None,
               test_metrics=None):
        """End a recipe: the training summary (`train_results.json`, `trainer_state.json`), the final evaluation of
        each split, the predicted-vs-true plot, the model card, `push_to_hub` if `args.push_to_hub`, and the
        distributed process group torn down.

        Args:
            eval_dataset: the validation split, which chose the checkpoint (`load_best_model_at_end`, early
                stopping): evaluated with `predict`, metrics prefixed `eval_` (`eval_results.json`).
            dataset_name: the dataset named in the model card.
            on_evaluation: called with the validation split's `PredictionOutput` on the main process, before the
                model card is written, for a recipe's own analysis of the predictions (figures, reports).
            test_dataset: the held-out test split, evaluated once here: metrics prefixed `test_`
                (`test_results.json`). The plot shows it (else the validation split), and the card reports both
                splits, each under its own name and size.
            test_metrics: the `compute_metrics` of the test split, where the metrics depend on the split's rows
                (e.g. `EntityValueMetrics` reads their entity names); by default the Trainer's.

        Returns a [`FinalEvaluation`] of the `PredictionOutput`s (None for a split not given).
        """
        outputs = {}
        self.final_results = []
        trained = [entry for entry in self.state.log_history if "train_runtime" in entry]
        if trained:  # as transformers' example scripts do: train_results.json and trainer_state.json
            self.save_metrics("train", trained[-1])
            self.save_state()
        for prefix, split, dataset, note in (
            ("eval", "validation", eval_dataset, "chose the checkpoint"),
            ("test", "test", test_dataset, "held out"),
        ):
            if dataset is None:
                continue
            if prefix == "test" and test_metrics is not None:
                self.compute_metrics = test_metrics
            output = outputs[prefix] = self.predict(dataset, metric_key_prefix=prefix)
            self.log(output.metrics)  # into log_history
            self.log_metrics(prefix, output.metrics)
            self.save_metrics(prefix, output.metrics)
            self.final_results.append(SplitMetrics(split, output.metrics, _num_examples(output), note))
        if self.is_world_process_zero():
            shown = outputs.get("test", outputs.get("eval"))
            if shown is not None:
                self.save_prediction_plot(shown)
            if on_evaluation is not None and "eval" in outputs:
                on_evaluation(outputs["eval"])
        self.create_model_card(dataset=dataset_name)
        if self.args.push_to_hub:
            self.push_to_hub(dataset=dataset_name)
        self.accelerator.end_training()
        return FinalEvaluation(outputs.get("eval"), outputs.get("test"))

    def save_prediction_plot(self, output) -> None:
        """The predicted-vs-true price plot of the final evaluation, which the model card shows (price models
        only: other predictions are not prices)."""
        from .plots import PRICE_PLOT_FILENAME, save_price_plot

        if not isinstance(self.accelerator.unwrap_model(self.model), PriceModelMixin):
            return
        predictions = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        save_price_plot(predictions, output.label_ids, os.path.join(self.args.output_dir, PRICE_PLOT_FILENAME))

    def create_model_card(self, model_name=None, dataset=None, tags=None, **kwargs):
        """Write `README.md` to `output_dir` with the price metrics in the model-index (see `hf_pricer.hub`)."""
        if not self.is_world_process_zero():
            return
        from .hub import build_model_card, latest_eval_metrics
        from .plots import PRICE_PLOT_FILENAME

        repo_id = self.hub_model_id or model_name or os.path.basename(os.path.abspath(self.args.output_dir))
        has_plot = os.path.isfile(os.path.join(self.args.output_dir, PRICE_PLOT_FILENAME))
        results = getattr(self, "final_results", None) or [
            SplitMetrics("validation", latest_eval_metrics(self.state.log_history))
        ]
        card = build_model_card(
            self.accelerator.unwrap_model(self.model),
            repo_id=repo_id,
            results=results,
            # where the model is: the Hub repository it is pushed to, else the folder it was saved to
            usage_path=self.hub_model_id if self.args.push_to_hub else self.args.output_dir,
            dataset_id=dataset if isinstance(dataset, str) else None,
            training_args=self.args,
            plot_file=PRICE_PLOT_FILENAME if has_plot else None,
            tags=[tags] if isinstance(tags, str) else (tags or ()),
        )
        card.save(os.path.join(self.args.output_dir, "README.md"))


@dataclass
class PricerSeq2SeqTrainingArguments(PricerTrainingArguments, Seq2SeqTrainingArguments):
    """`PricerTrainingArguments` with the generation options of `Seq2SeqTrainingArguments`
    (`predict_with_generate`, `generation_max_length`, `generation_num_beams`, `generation_config`)."""


class PricerSeq2SeqTrainer(PricerTrainer, Seq2SeqTrainer):
    """`PricerTrainer` for models that generate text (e.g. the Resformer): training keeps the loss protocol
    (token cross-entropy summed, divided by the non-padding label tokens of the accumulated batch);
    evaluation and prediction run `model.generate` when `args.predict_with_generate`, as `Seq2SeqTrainer`
    does, so `compute_metrics` receives generated token ids."""

    def save_prediction_plot(self, output) -> None:
        """Generated token ids have no predicted-vs-true plot."""


class FreezeWarmupCallback(TrainerCallback):
    """Keeps modules frozen until a given epoch, then makes them trainable.

    Args:
        schedule (`Mapping[str, float]`, *optional*): parameter-name prefix → epoch from which it trains,
            e.g. `{"image_encoder": 4, "text_encoder": 4}` (the dual encoder's design: encoders frozen for
            epochs 0–3).
            `None`: ask the model, `model.freeze_schedule()`, at the start of every training run, so a
            schedule stored in the model's config follows it (e.g. per trial of a hyperparameter search).

    Use it with [`PricerTrainer`], whose optimizer holds frozen parameters too. Freezing happens at
    `on_train_begin`, after the model is wrapped for distributed training, so DDP still tracks the
    frozen parameters (it needs `ddp_find_unused_parameters`, the Trainer's default for
    `PreTrainedModel`s) and they train normally once unfrozen.
    """

    def __init__(self, schedule: Mapping[str, float] | None = None):
        self.from_model = schedule is None
        self.schedule = None if schedule is None else self._checked(schedule)
        self.frozen: set[str] = set()

    @staticmethod
    def _checked(schedule: Mapping[str, float]) -> dict[str, float]:
        if not schedule:
            raise ValueError("FreezeWarmupCallback needs at least one module prefix to freeze")
        for prefix, epoch in schedule.items():
            if not isinstance(epoch, (int, float)) or epoch < 0:
                raise ValueError(f"unfreeze epoch for {prefix!r} must be a non-negative number, got {epoch!r}")
        return dict(schedule)

    @classmethod
    def for_modules(cls, modules, epochs: float) -> FreezeWarmupCallback:
        return cls({module: epochs for module in modules})

    @staticmethod
    def _set_trainable(model, prefix: str, trainable: bool) -> int:
        params = [p for name, p in model.named_parameters() if _matches(name, prefix)]
        if not params:
            raise ValueError(f"FreezeWarmupCallback: prefix {prefix!r} matches no parameter of the model")
        for param in params:
            param.requires_grad_(trainable)
        return len(params)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.from_model:
            self.schedule = self._checked(model.freeze_schedule())
        epoch = state.epoch or 0.0
        for prefix, unfreeze_at in self.schedule.items():
            if epoch < unfreeze_at:
                count = self._set_trainable(model, prefix, False)
                self.frozen.add(prefix)
                logger.info("froze %s (%d tensors) until epoch %g", prefix, count, unfreeze_at)

    def on_epoch_begin(self, args, state, control, model=None, **kwargs):
        epoch = round(state.epoch or 0.0, 6)
        for prefix in sorted(self.frozen):
            if epoch >= self.schedule[prefix]:
                count = self._set_trainable(model, prefix, True)
                self.frozen.discard(prefix)
                logger.info("unfroze %s (%d tensors) at epoch %g", prefix, count, epoch)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        # Leave no module frozen after training, e.g. if training stopped before the unfreeze epoch.
        for prefix in sorted(self.frozen):
            self._set_trainable(model, prefix, True)
        self.frozen.clear()


class SaveEveryEpochsCallback(TrainerCallback):
    """A checkpoint at the end of every `every`-th epoch (the embedding aligner's design saves every 5)."""

    def __init__(self, every: int):
        self.every = every

    def on_epoch_end(self, args, state, control, **kwargs):
        if round(state.epoch) % self.every == 0:
            control.should_save = True
