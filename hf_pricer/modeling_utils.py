"""Pieces the models share: the loss protocol of `PricerTrainer`, and the price models' output and losses.

Every hf_pricer model implements :class:`PricerLossMixin`: `PricerTrainer.compute_loss` asks the model
for the *summed* loss of a micro-batch and divides it by the item count of the whole accumulated (and
gathered) batch, so gradient accumulation is exact whatever the model.

Price models predict ``log_price = log1p(price)``. Labels are prices in dollars. Their losses are
written once here and used both by a model's ``forward`` (when ``labels`` are passed) and by the Trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from hf_pricer.configuration_utils import LOSS_TYPES
from hf_pricer.metrics.price import SMAPE_EPS

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
        quantile_predictions (`torch.FloatTensor` of shape `(batch_size, num_quantiles)`, *optional*):
            Predicted price quantiles in dollars, for the model's `config.quantiles` (increasing), widened by
            `config.interval_margin`; `None` for a model without quantiles.
        quantile_log_price (`torch.FloatTensor` of shape `(batch_size, num_quantiles)`, *optional*):
            The same as `log1p(price)`, before the widening (the pinball loss is computed from it).
    """

    loss: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    log_price: torch.FloatTensor | None = None
    quantile_predictions: torch.FloatTensor | None = None
    quantile_log_price: torch.FloatTensor | None = None


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

    def add_loss(self, outputs: ModelOutput, labels: torch.Tensor | None) -> ModelOutput:
        """`outputs` with `loss` set to the `mean_loss`, when there are `labels`: how `forward` ends."""
        if labels is not None:
            outputs.loss = self.mean_loss(outputs, labels)
        return outputs


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
    """`PricerLossMixin` for price models: `config.loss_type` on `outputs.log_price` against prices (plus the
    pinball loss of the quantiles, when the model predicts some), and the price head every price model ends
    with (:meth:`price_outputs`). The config is a [`PriceConfigMixin`].

    A price model also gives the vector its price head reads, `get_price_embeddings(**inputs)` (shape
    `(batch_size, embedding_size)`), for models stacked on top of it (e.g. gradient boosting). Price models
    serve the `"price-regression"` pipeline.
    """

    pipeline_task = "price-regression"

    @property
    def num_price_outputs(self) -> int:
        """Outputs of the network's last layer: the point price and one per quantile."""
        return 1 + len(self.config.quantiles)

    def price_outputs(self, standardized: torch.Tensor, labels: torch.Tensor | None = None) -> PriceRegressionOutput:
        """The network's standardized log prices `z`, `(batch_size, num_price_outputs)` (the point price, then
        the quantiles; `(batch_size,)` without quantiles) → `log_price = z * log_price_std + log_price_mean`,
        `predictions = max(expm1(log_price), min_price)`, the quantiles (sorted, widened by `interval_margin`)
        and, with `labels`, the mean loss."""
        config = self.config
        log_prices = standardized.float() * config.log_price_std + config.log_price_mean
        log_price = log_prices[:, 0] if log_prices.ndim == 2 else log_prices
        outputs = PriceRegressionOutput(log_price=log_price, predictions=self._to_price(log_price))
        if log_prices.ndim == 2 and log_prices.shape[1] > 1:
            quantile_log_price = log_prices[:, 1:]
            outputs.quantile_log_price = quantile_log_price
            # Quantile heads are trained independently; sorting keeps the reported ones ordered.
            # quantiles below 0.5 move down by the margin, those above up
            side = torch.tensor(config.quantiles, device=log_price.device).sub(0.5).sign()
            margin = side * config.interval_margin
            outputs.quantile_predictions = self._to_price(quantile_log_price.sort(dim=-1).values + margin)
        return self.add_loss(outputs, labels)

    def _to_price(self, log_price: torch.Tensor) -> torch.Tensor:
        return torch.expm1(log_price.clamp(max=_MAX_LOG_PRICE)).clamp(min=self.config.min_price)

    def num_loss_items(self, labels: torch.Tensor) -> int:
        return labels.numel()

    def loss_sum(self, outputs: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        config = self.config
        mean, std = config.log_price_mean, config.log_price_std
        loss = price_loss(outputs.log_price, labels, config.loss_type, mean, std, reduction="sum")
        if outputs.get("quantile_log_price") is not None:
            quantiles = outputs.quantile_log_price
            loss = loss + pinball_loss(quantiles, labels, config.quantiles, mean, std, reduction="sum")
        return loss

    def calibrate_intervals(self, quantile_log_price: torch.Tensor, labels: torch.Tensor) -> float:
        """Set `config.interval_margin` from held-out predictions (`outputs.quantile_log_price`) and their
        prices, so that the interval between the lowest and highest quantile covers the share of prices it is
        meant to (see [`calibrate_interval_margin`]). Returns the margin."""
        quantiles = self.config.quantiles
        if len(quantiles) < 2:
            raise ValueError(
                f"calibrating intervals needs at least two quantiles, the model has {list(quantiles)}"
            )
        log_prices = torch.as_tensor(quantile_log_price, dtype=torch.float32).sort(dim=-1).values
        labels = torch.log1p(torch.as_tensor(labels, dtype=torch.float32))
        coverage = quantiles[-1] - quantiles[0]
        margin = calibrate_interval_margin(log_prices[:, 0], log_prices[:, -1], labels, coverage)
        self.config.interval_margin = margin
        return margin

    def get_price_embeddings(self, *args, **inputs) -> torch.Tensor:
        """The vector the price head reads, `(batch_size, embedding_size)`: what `price_output_layer` is given
        when `forward` runs on the same inputs (`labels` are ignored)."""
        inputs.pop("labels", None)
        embeddings, layer = [], self.price_output_layer
        hook = layer.register_forward_pre_hook(lambda _, layer_args: embeddings.append(layer_args[0]))
        try:
            self(*args, **inputs)
        finally:
            hook.remove()
        return embeddings[0]

    @property
    def price_output_layer(self) -> nn.Linear:
        """The last layer, which maps `get_price_embeddings`' vector to `num_price_outputs` standardized
        prices."""
        raise NotImplementedError(f"{type(self).__name__} must name its `price_output_layer`")

    def price_outputs_from_embeddings(
        self, embeddings: torch.Tensor, labels: torch.Tensor | None = None
    ) -> PriceRegressionOutput:
        """What `forward` returns, from the output of `get_price_embeddings` (so a caller that needs both runs
        the network once)."""
        return self.price_outputs(self.price_output_layer(embeddings).squeeze(-1), labels)


_PRICE_FORWARD_ARGS = """
        numeric_features (`torch.FloatTensor` of shape `(batch_size, num_numeric)`, *optional*):
            Standardized numeric features from the processor; NaN where the item does not state the value.
        categorical_features (`torch.LongTensor` of shape `(batch_size, num_categorical)`, *optional*):
            Category ids from the processor's vocabularies (0: missing, 1: unseen).
        labels (`torch.FloatTensor` of shape `(batch_size,)`, *optional*):
            True prices in dollars; when given, `loss` is the config's `loss_type` (plus the pinball loss of
            `config.quantiles`).
        """


def price_forward_docstring(forward):
    """Decorator of a price model's `forward`: add the docs of the inputs price models share (`numeric_features`,
    `categorical_features`, `labels`) after those of its own inputs, so that they are written once."""
    forward.__doc__ = (forward.__doc__ or "").rstrip() + _PRICE_FORWARD_ARGS
    return forward


class TabularEmbedding(nn.Module):
    """Numeric and categorical features → one vector of `hidden_size`.

    Numeric features arrive standardized, with NaN for a missing value: present values go through a linear
    map, and each missing value adds its feature's learned "missing" embedding instead (a missing weight is
    never read as 0). Each categorical feature has its own embedding table (id 0: missing, id 1: unseen; both
    learned), and the embeddings are summed with the numeric part.
    """

    def __init__(self, num_numeric: int, cardinalities: list[int], hidden_size: int):
        super().__init__()
        self.num_numeric = num_numeric
        self.numeric_projection = nn.Linear(num_numeric, hidden_size) if num_numeric else None
        self.missing_numeric_embedding = nn.Parameter(torch.empty(num_numeric, hidden_size))
        self.categorical_embeddings = nn.ModuleList(nn.Embedding(size, hidden_size) for size in cardinalities)

    def forward(
        self,
        numeric_features: torch.Tensor | None = None,
        categorical_features: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        """`numeric_features` `(batch_size, num_numeric)` and `categorical_features`
        `(batch_size, num_categorical)` → `(batch_size, hidden_size)`."""
        parts = []
        if self.numeric_projection is not None:
            missing = numeric_features.isnan()
            values = numeric_features.masked_fill(missing, 0.0).to(self.numeric_projection.weight.dtype)
            missing_embeddings = missing.to(values.dtype) @ self.missing_numeric_embedding
            parts.append(self.numeric_projection(values) + missing_embeddings)
        for position, embedding in enumerate(self.categorical_embeddings):
            parts.append(embedding(categorical_features[:, position]))
        return torch.stack(parts).sum(0)


def check_tabular_inputs(config, numeric_features, categorical_features) -> None:
    """Errors for tabular inputs that do not fit the config's `numeric_feature_names` / `categorical_*`."""
    for name, tensor, names in (
        ("numeric_features", numeric_features, config.numeric_feature_names),
        ("categorical_features", categorical_features, config.categorical_feature_names),
    ):
        if names and tensor is None:
            raise ValueError(
                f"the model takes `{name}` ({len(names)} columns: {list(names)[:5]}...); pass them"
            )
        if tensor is not None and (tensor.ndim != 2 or tensor.shape[1] != len(names)):
            raise ValueError(
                f"`{name}` must have shape (batch_size, {len(names)}) for config.{name[:-1]}_names, got "
                f"{tuple(tensor.shape)}"
            )
    if categorical_features is not None and categorical_features.numel():
        limits = torch.tensor(config.categorical_cardinalities, device=categorical_features.device)
        bad = (categorical_features < 0) | (categorical_features >= limits)
        if bad.any():
            column = int(bad.nonzero()[0, 1])
            raise ValueError(
                f"`categorical_features` holds id {int(categorical_features[bad][0])} for "
                f"{config.categorical_feature_names[column]!r}, outside "
                f"[0, {config.categorical_cardinalities[column]})"
            )


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
    elif isinstance(module, TabularEmbedding):
        init.normal_(module.missing_numeric_embedding, mean=0.0, std=std)
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


def pinball_loss(
    quantile_log_price: torch.Tensor,
    labels: torch.Tensor,
    quantiles,
    log_price_mean: float = 0.0,
    log_price_std: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Pinball (quantile) loss of predicted `log1p(price)` quantiles `(batch_size, num_quantiles)` against
    prices, on the standardized log price, summed over the quantiles. Its minimiser is each quantile of the
    price's conditional distribution, so trained heads predict them."""
    predicted_z = (quantile_log_price.float() - log_price_mean) / log_price_std
    labels = labels.to(predicted_z.device, torch.float32).reshape(-1, 1)
    true_z = (torch.log1p(labels) - log_price_mean) / log_price_std
    levels = torch.tensor(list(quantiles), dtype=torch.float32, device=predicted_z.device)
    error = true_z - predicted_z
    per_item = torch.maximum(levels * error, (levels - 1) * error).sum(-1)
    if reduction == "sum":
        return per_item.sum()
    if reduction == "mean":
        return per_item.mean()
    raise ValueError(f"`reduction` must be 'mean' or 'sum', got {reduction!r}")


def calibrate_interval_margin(low, high, targets, coverage: float) -> float:
    """Split-conformal widening of predicted intervals `[low, high]` (any monotone scale, e.g. `log1p(price)`)
    so that on exchangeable new data they cover at least `coverage` of the targets: the
    `ceil((n + 1) coverage)`-th smallest of `max(low - target, target - high)` over the `n` held-out rows, and
    never negative (intervals that already cover are not narrowed, which keeps the guarantee)."""
    low, high, targets = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (low, high, targets))
    if not low.shape == high.shape == targets.shape:
        raise ValueError(f"need as many intervals as targets, got {len(low)}, {len(high)} and {len(targets)}")
    return max(conformal_quantile(torch.maximum(low - targets, targets - high), coverage), 0.0)


def conformal_quantile(scores, coverage: float) -> float:
    """The `ceil((n + 1) * coverage)`-th smallest of `n` held-out conformity scores: a new item's score is
    below it with probability at least `coverage` (split conformal prediction)."""
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1).sort().values
    if not len(scores):
        raise ValueError("conformal calibration needs at least one held-out score")
    if not 0 < coverage < 1:
        raise ValueError(f"`coverage` must be in (0, 1), got {coverage}")
    rank = min(math.ceil((len(scores) + 1) * coverage), len(scores))
    return float(scores[rank - 1])
