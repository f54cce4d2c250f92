"""Price ensemble: hf_pricer price models, a LightGBM member and a linear member, stacked in log-price space.

Every member predicts `log1p(price)`; the ensemble's log price is
`stacker_intercept + Σ stacker_weights[m] * member_m`, its price `price_multiplier * expm1(...)`. The weights
were fitted by non-negative least squares on *out-of-fold* predictions (each training item predicted by member
models that never saw it, see `hf_pricer.stacking`), so the stacker trusts each member as much as it deserves
on unseen items.

- Price-model members are ordinary hf_pricer models (their weights live in this model's safetensors under
  `members.<name>.`), fed by their own processors (`member_inputs[name]`).
- The linear member is a weight per TF-IDF term and per numeric feature (and per missing numeric feature),
  summed with `embedding_bag` over the processor's sparse TF-IDF rows.
- The gradient-boosting member is a LightGBM model. Its text model string is stored as a `uint8` tensor of the
  weights file, so it saves, loads and travels through the Hub like any weight, and is never pickled. Its
  inputs are the embeddings (`get_price_embeddings`) and predictions of earlier members, the numeric and
  categorical features, and the word TF-IDF projected on stored SVD components.

The prediction interval is the stacked log price ± `interval_margin` times the width of `interval_member`'s
predicted quantile interval (or ± the margin itself), calibrated on out-of-fold predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import CONFIG_MAPPING, AutoModel, PreTrainedModel
from transformers.utils import can_return_tuple

from hf_pricer.modeling_utils import PipelineTaskMixin, PriceRegressionOutput, price_loss

from .configuration_price_ensemble import PriceEnsembleConfig

_MAX_LOG_PRICE = 80.0


@dataclass
class PriceEnsembleOutput(PriceRegressionOutput):
    """[`PriceRegressionOutput`] of the ensemble (`loss` is the SMAPE loss, for evaluation), plus:

    Args:
        member_log_prices (`torch.FloatTensor` of shape `(batch_size, num_members)`):
            Each member's predicted `log1p(price)`, in `config.members` order.
    """

    member_log_prices: torch.FloatTensor | None = None


def sparse_dot(weight: torch.Tensor, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Rows given as padded `(ids, values)` (see `padded_sparse_rows`) times a `(num_terms, dim)` weight →
    `(batch_size, dim)`. Training computes the gradient-boosting member's text features with this same
    function, so that they match to the bit what the member reads at inference (a tree's threshold can fall
    between two roundings of one value)."""
    return F.embedding_bag(ids.to(weight.device), weight, per_sample_weights=values.to(weight), mode="sum")


class LinearPriceMember(nn.Module):
    """`log1p(price) = bias + word·w_word + char·w_char + numeric·w_numeric + missing·w_missing`, where a
    missing numeric value counts 0 in `numeric` and 1 in `missing` (so it has its own learned weight)."""

    def __init__(self, num_word: int, num_char: int, num_numeric: int):
        super().__init__()
        self.register_buffer("word_weight", torch.zeros(num_word, 1))
        self.register_buffer("char_weight", torch.zeros(num_char, 1))
        self.register_buffer("numeric_weight", torch.zeros(num_numeric))
        self.register_buffer("missing_weight", torch.zeros(num_numeric))
        self.register_buffer("bias", torch.zeros(()))

    def forward(self, numeric_features, word_ids, word_weights, char_ids, char_weights) -> torch.Tensor:
        log_price = self.bias + torch.zeros(word_ids.shape[0], device=self.bias.device)
        if self.word_weight.shape[0]:
            log_price = log_price + sparse_dot(self.word_weight, word_ids, word_weights).squeeze(-1)
        if self.char_weight.shape[0]:
            log_price = log_price + sparse_dot(self.char_weight, char_ids, char_weights).squeeze(-1)
        if self.numeric_weight.shape[0]:
            numeric = numeric_features.to(self.numeric_weight)
            missing = numeric.isnan()
            log_price = log_price + numeric.masked_fill(missing, 0.0) @ self.numeric_weight
            log_price = log_price + missing.to(numeric.dtype) @ self.missing_weight
        return log_price


class GradientBoostingPriceMember(nn.Module):
    """A LightGBM regressor of `log1p(price)`; its model text lives in the `model_text` buffer (UTF-8
    bytes)."""

    def __init__(self, num_model_bytes: int, num_word: int, num_svd_components: int):
        super().__init__()
        self.register_buffer("model_text", torch.zeros(num_model_bytes, dtype=torch.uint8))
        self.register_buffer("svd_components", torch.zeros(num_word, num_svd_components))
        self._booster = None

    def set_model_text(self, model_text: str) -> None:
        """Store a LightGBM model (`Booster.model_to_string()`); the buffer takes the text's length."""
        self.model_text = torch.frombuffer(bytearray(model_text.encode("utf-8")), dtype=torch.uint8).clone()
        self._booster = None

    def booster(self):
        if self._booster is None:
            import lightgbm

            text = bytes(self.model_text.cpu().numpy()).decode("utf-8")
            self._booster = lightgbm.Booster(model_str=text)
        return self._booster

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._booster = None  # the model text may have changed

    def text_components(self, word_ids, word_weights) -> torch.Tensor:
        """The word TF-IDF rows projected on the stored SVD components, `(batch_size, num_svd_components)`."""
        return sparse_dot(self.svd_components, word_ids, word_weights)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """`features` `(batch_size, num_features)` (NaN: missing) → predicted `log1p(price)`
        `(batch_size,)`."""
        predicted = self.booster().predict(features.detach().double().cpu().numpy(), num_threads=1)
        return torch.as_tensor(np.asarray(predicted), dtype=torch.float32, device=features.device)


class PriceEnsemblePreTrainedModel(PipelineTaskMixin, PreTrainedModel):
    """Every tensor of an ensemble comes from its fitted members, so nothing is initialised here. Ensembles
    serve the `"price-regression"` pipeline, with `price_low`/`price_high` from their interval."""

    config_class = PriceEnsembleConfig
    base_model_prefix = "price_ensemble"
    pipeline_task = "price-regression"
    main_input_name = "member_inputs"

    @torch.no_grad()
    def _init_weights(self, module):
        pass


class PriceEnsembleForPriceRegression(PriceEnsemblePreTrainedModel):
    """The stacked price ensemble; see the module docstring. Its processor is a [`PriceEnsembleProcessor`]."""

    def __init__(self, config: PriceEnsembleConfig):
        super().__init__(config)
        self.members = nn.ModuleDict()
        num_numeric = len(config.numeric_feature_names)
        for spec in config.members:
            if spec["kind"] == "price_model":
                member_config = dict(spec["config"])
                member_config = CONFIG_MAPPING[member_config["model_type"]].from_dict(member_config)
                self.members[spec["name"]] = AutoModel.from_config(member_config)
            elif spec["kind"] == "linear":
                self.members[spec["name"]] = LinearPriceMember(
                    config.num_word_features, config.num_char_features, num_numeric
                )
            else:
                self.members[spec["name"]] = GradientBoostingPriceMember(
                    spec["num_model_bytes"], config.num_word_features, spec.get("num_svd_components", 0)
                )
        self.post_init()

    def gradient_boosting_features(
        self,
        spec: dict,
        embeddings: dict,
        log_prices: dict,
        numeric_features,
        categorical_features,
        word_ids,
        word_weights,
    ) -> torch.Tensor:
        """The input rows of a gradient-boosting member, in the column order it was trained with."""
        member = self.members[spec["name"]]
        batch_size = word_ids.shape[0]
        columns = [embeddings[name].float() for name in spec.get("embeddings_of", ())]
        columns += [log_prices[name].float()[:, None] for name in spec.get("predictions_of", ())]
        if numeric_features is not None and self.config.numeric_feature_names:
            columns.append(numeric_features.float())
        if categorical_features is not None and self.config.categorical_feature_names:
            columns.append(categorical_features.float())
        if member.svd_components.shape[1]:
            columns.append(member.text_components(word_ids, word_weights))
        return (
            torch.cat([c.to(word_ids.device) for c in columns], dim=1)
            if columns
            else torch.zeros(batch_size, 0)
        )

    @can_return_tuple
    def forward(
        self,
        member_inputs: dict[str, dict[str, torch.Tensor]] | None = None,
        numeric_features: torch.FloatTensor | None = None,
        categorical_features: torch.LongTensor | None = None,
        word_ids: torch.LongTensor | None = None,
        word_weights: torch.FloatTensor | None = None,
        char_ids: torch.LongTensor | None = None,
        char_weights: torch.FloatTensor | None = None,
        labels: torch.FloatTensor | None = None,
    ) -> PriceEnsembleOutput:
        r"""
        member_inputs (`dict[str, dict[str, torch.Tensor]]`):
            Per price-model member, the keyword tensors of its forward (from its processor).
        numeric_features (`torch.FloatTensor` of shape `(batch_size, num_numeric)`, *optional*):
            The ensemble's numeric features (standardized, NaN where missing).
        categorical_features (`torch.LongTensor` of shape `(batch_size, num_categorical)`, *optional*):
            Its categorical feature ids.
        word_ids, word_weights (`(batch_size, max_terms)`):
            The word TF-IDF of each item as padded term ids and values.
        char_ids, char_weights (`(batch_size, max_terms)`):
            The same for the character n-gram TF-IDF.
        labels (`torch.FloatTensor` of shape `(batch_size,)`, *optional*):
            True prices; `loss` is then the SMAPE loss of the predictions (the ensemble is fitted, not
            trained).
        """
        member_inputs = member_inputs or {}
        log_prices, embeddings, quantiles = {}, {}, {}
        needs_embeddings = {name for spec in self.config.members for name in spec.get("embeddings_of", ())}
        for spec in self.config.members:
            name, member = spec["name"], self.members[spec["name"]]
            if spec["kind"] == "price_model":
                if name not in member_inputs:
                    raise ValueError(
                        f"`member_inputs` has no inputs for member {name!r} (got {sorted(member_inputs)})"
                    )
                inputs = {
                    key: value.to(self.device) if hasattr(value, "to") else value
                    for key, value in member_inputs[name].items()
                    if key != "labels"
                }
                hidden = member.get_price_embeddings(**inputs)
                outputs = member.price_outputs_from_embeddings(hidden)
                log_prices[name] = outputs.log_price
                if name in needs_embeddings:
                    embeddings[name] = hidden
                if outputs.quantile_log_price is not None:
                    quantiles[name] = outputs.quantile_log_price
            elif spec["kind"] == "linear":
                log_prices[name] = member(numeric_features, word_ids, word_weights, char_ids, char_weights)
            else:
                features = self.gradient_boosting_features(
                    spec,
                    embeddings,
                    log_prices,
                    numeric_features,
                    categorical_features,
                    word_ids,
                    word_weights,
                )
                log_prices[name] = member(features)
        member_log_prices = torch.stack(
            [log_prices[spec["name"]].float() for spec in self.config.members], dim=1
        )
        weights = torch.tensor(
            self.config.stacker_weights, dtype=torch.float32, device=member_log_prices.device
        )
        stacked = member_log_prices @ weights + self.config.stacker_intercept
        price = self.config.price_multiplier * torch.expm1(stacked.clamp(max=_MAX_LOG_PRICE))
        predictions = price.clamp(min=self.config.min_price)
        log_price = torch.log1p(predictions)
        spread = torch.ones_like(log_price)
        if self.config.interval_member is not None:
            member_quantiles = quantiles[self.config.interval_member].sort(dim=-1).values
            spread = member_quantiles[:, -1] - member_quantiles[:, 0]
        half_width = self.config.interval_margin * spread
        interval = torch.stack([log_price - half_width, log_price + half_width], dim=1)
        quantile_predictions = torch.expm1(interval.clamp(max=_MAX_LOG_PRICE)).clamp(
            min=self.config.min_price
        )
        loss = None if labels is None else price_loss(log_price, labels, "smape")
        return PriceEnsembleOutput(
            loss=loss,
            predictions=predictions,
            log_price=log_price,
            quantile_predictions=quantile_predictions,
            quantile_log_price=interval,
            member_log_prices=member_log_prices,
        )

    def get_price_embeddings(self, **inputs) -> torch.Tensor:
        """What the stacker reads: every member's predicted `log1p(price)`, `(batch_size, num_members)`."""
        return self(**inputs).member_log_prices


__all__ = [
    "GradientBoostingPriceMember",
    "LinearPriceMember",
    "PriceEnsembleForPriceRegression",
    "PriceEnsembleOutput",
    "PriceEnsemblePreTrainedModel",
    "sparse_dot",
]
