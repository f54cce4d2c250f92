"""Pieces the models share: the loss protocol of `PricerTrainer`, and the price models' output and losses.

Every hf_pricer model implements :class:`PricerLossMixin`: `PricerTrainer.compute_loss` asks the model
for the *summed* loss of a micro-batch and divides it by the item count of the whole accumulated (and
gathered) batch, so gradient accumulation is exact whatever the model.

Price models predict ``log_price = log1p(price)``. Labels are prices in dollars. Their losses are
written once here and used both by a model's ``forward`` (when ``labels`` are passed) and by the Trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from hf_pricer.metrics.price import SMAPE_EPS

LOSS_TYPES = ("smape", "l1", "huber", "mse")
# exp(80) is still finite in float32; beyond that the SMAPE gradient is zero anyway.
_MAX_LOG_PRICE = 80.0


@dataclass
class PriceRegressionOutput(ModelOutput):
    """Output of the price models.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are passed):
            The configured price loss (see [`price_loss`]), averaged over the batch.
        predictions (`torch.FloatTensor` of shape `(batch_size,)`):
            Predicted prices in dollars, never below the model's `min_price`.
        log_price (`torch.FloatTensor` of shape `(batch_size,)`):
            Predicted `log1p(price)`; the losses are computed from it.
    """

    loss: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    log_price: torch.FloatTensor | None = None


class PricerLossMixin:
    """The loss protocol `PricerTrainer` trains a model with.

    - `loss_sum(outputs, labels)`: the loss of one micro-batch, summed (not averaged) over its loss items;
    - `num_loss_items(labels)`: how many loss items that sum runs over (one per example by default; a
      sequence model counts its non-padding label tokens).

    The Trainer divides the sum by the loss-item count of the whole accumulated batch. A model's `forward`
    still returns the mean loss when it is given `labels`, for use without the Trainer.
    """

    # `forward` takes no loss kwargs (`num_items_in_batch`): the Trainer normalises the summed loss itself.
    accepts_loss_kwargs = False

    def num_loss_items(self, labels: torch.Tensor) -> int:
        return labels.shape[0]

    def loss_sum(self, outputs: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement `loss_sum(outputs, labels)`")

    def mean_loss(self, outputs: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        """The loss `forward` returns when given `labels`: `loss_sum` over `num_loss_items`."""
        return self.loss_sum(outputs, labels) / max(int(self.num_loss_items(labels)), 1)


class PipelineTaskMixin:
    """For a model that a `transformers.pipeline()` task of hf_pricer serves (`pipeline_task`, see
    `hf_pricer.pipelines`): `save_pretrained` also stores the pipeline's code and names it in
    `config.custom_pipelines`, so that `pipeline(model=folder_or_repo, trust_remote_code=True)` finds it."""

    pipeline_task: str | None = None

    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, **kwargs):
        if self.pipeline_task is None:
            return super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        from hf_pricer.pipelines import custom_pipelines_entry, save_pipeline_code

        self.config.custom_pipelines = custom_pipelines_entry(self.pipeline_task, type(self)._auto_class or "AutoModel")
        result = super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        if is_main_process:
            save_pipeline_code(self.pipeline_task, save_directory)
        return result


class PriceModelMixin(PipelineTaskMixin, PricerLossMixin):
    """`PricerLossMixin` for price models: `config.loss_type` on `outputs.log_price` against prices, and the
    price head every price model ends with (:meth:`price_outputs`). Price models serve the `"price-regression"`
    pipeline."""

    pipeline_task = "price-regression"

    def price_outputs(self, standardized: torch.Tensor, labels: torch.Tensor | None = None) -> PriceRegressionOutput:
        """The standardized log price `z` of the network → `log_price = z * log_price_std + log_price_mean`,
        `predictions = max(expm1(log_price), min_price)` and, with `labels`, the mean loss."""
        config = self.config
        log_price = standardized.float() * config.log_price_std + config.log_price_mean
        predictions = torch.expm1(log_price).clamp(min=config.min_price)
        loss = None
        if labels is not None:
            loss = price_loss(log_price, labels, config.loss_type, config.log_price_mean, config.log_price_std)
        return PriceRegressionOutput(loss=loss, predictions=predictions, log_price=log_price)

    def num_loss_items(self, labels: torch.Tensor) -> int:
        return labels.numel()

    def loss_sum(self, outputs: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        config = self.config
        mean, std = getattr(config, "log_price_mean", 0.0), getattr(config, "log_price_std", 1.0)
        return price_loss(outputs.log_price, labels, config.loss_type, mean, std, reduction="sum")


@torch.no_grad()
def init_standard_layers(module: nn.Module, std: float) -> bool:
    """Initialise the standard layers of hf_pricer's own modules; returns whether `module` was one.

    Linear and Embedding weights ~ N(0, std) (padding row zero), attention in-projections Xavier, Conv2d
    Kaiming (fan-out), norms at identity, BatchNorm statistics reset. `transformers.initialization`
    skips tensors flagged `_is_hf_initialized` (loaded or pretrained weights), so a model's
    `_init_weights` may call this on every module without touching a pretrained backbone.
    """
    if isinstance(module, nn.Linear):
        init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            init.zeros_(module.weight[module.padding_idx])
    elif isinstance(module, nn.MultiheadAttention):
        init.xavier_uniform_(module.in_proj_weight)
        init.zeros_(module.in_proj_bias)
    elif isinstance(module, nn.Conv2d):
        init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
        init.ones_(module.weight)
        init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        if module.affine:
            init.ones_(module.weight)
            init.zeros_(module.bias)
        if module.track_running_stats:
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
    else:
        return False
    return True


def check_loss_type(loss_type: str) -> str:
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"`loss_type` must be one of {LOSS_TYPES}, got {loss_type!r}")
    return loss_type


def validate_price_head(config) -> None:
    """Checks the price-head fields every price-model config has: `loss_type`, `log_price_std`, `dropout`."""
    check_loss_type(config.loss_type)
    if not config.log_price_std > 0:
        raise ValueError(f"`log_price_std` must be positive, got {config.log_price_std}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {config.dropout}")


def price_loss(
    log_price: torch.Tensor,
    labels: torch.Tensor,
    loss_type: str = "smape",
    log_price_mean: float = 0.0,
    log_price_std: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Training loss of predicted ``log1p(price)`` against true prices (dollars).

    - ``smape``: the dual-encoder design's differentiable SMAPE, in price space, as a fraction (0–2);
    - ``l1``: mean absolute error of the standardized log price (the residual regressor's design);
    - ``huber``: Huber loss (δ = 1) of the standardized log price;
    - ``mse``: squared error of the standardized log price.

    ``reduction="sum"`` lets the caller divide by the number of items of a whole accumulated batch.
    The loss is computed in float32 whatever the autocast dtype.
    """
    log_price = log_price.float().reshape(-1)
    labels = labels.to(log_price.device, torch.float32).reshape(-1)
    if log_price.shape != labels.shape:
        raise ValueError(f"`labels` has {labels.numel()} values for {log_price.numel()} predictions")
    if loss_type == "smape":
        predicted = torch.expm1(log_price.clamp(max=_MAX_LOG_PRICE))
        per_item = (predicted - labels).abs() / ((labels.abs() + predicted.abs()) / 2 + SMAPE_EPS)
    else:
        predicted_z = (log_price - log_price_mean) / log_price_std
        true_z = (torch.log1p(labels) - log_price_mean) / log_price_std
        if loss_type == "l1":
            per_item = (predicted_z - true_z).abs()
        elif loss_type == "huber":
            per_item = F.huber_loss(predicted_z, true_z, reduction="none", delta=1.0)
        elif loss_type == "mse":
            per_item = (predicted_z - true_z) ** 2
        else:
            check_loss_type(loss_type)
    if reduction == "sum":
        return per_item.sum()
    if reduction == "mean":
        return per_item.mean()
    raise ValueError(f"`reduction` must be 'mean' or 'sum', got {reduction!r}")
