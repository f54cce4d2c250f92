"""Residual price regressor: hashed bag-of-words → deep residual MLP → price.

The input layer accepts either the dense hashed features (`input_features`, as designed) or the
indices and values of the non-zero features (`feature_ids` + `feature_weights`). The sparse path
gathers and sums the same weight rows with `embedding_bag`, so both give the same output without
ever building the `(batch_size, num_features)` dense batch. Numeric and categorical features, when the
config names some, are embedded (`TabularEmbedding`) and added to the input layer's output.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import can_return_tuple

from hf_pricer.modeling_utils import (
    PriceModelMixin,
    PriceRegressionOutput,
    TabularEmbedding,
    check_tabular_inputs,
    init_standard_layers,
    price_forward_docstring,
)

from .configuration_residual_regressor import ResidualRegressorConfig


class HashedFeatureProjection(nn.Module):
    """Linear map of a binary bag of hashed features, dense or given as feature indices.

    The weight is stored as `(num_features, hidden_size)` so that a row is one feature's embedding:
    the dense path is `x @ weight + bias`, the sparse path `embedding_bag(indices, weight) + bias`.
    """

    def __init__(self, num_features: int, hidden_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_features, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))

    def forward(self, input_features=None, feature_ids=None, feature_weights=None):
        if input_features is not None:
            return torch.addmm(self.bias, input_features.to(self.weight.dtype), self.weight)
        weights = feature_weights.to(self.weight.dtype)
        return F.embedding_bag(feature_ids, self.weight, per_sample_weights=weights, mode="sum") + self.bias


class ResidualBlock(nn.Module):
    """`relu(x + LN(Linear(Dropout(ReLU(LN(Linear(x)))))))`, the designed block."""

    def __init__(self, hidden_size: int, dropout: float):
        super().__init__()
        self.block = nn.Sequential(
            nn.Linear(hidden_size, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.LayerNorm(hidden_size),
        )

    def forward(self, hidden_states):
        return F.relu(hidden_states + self.block(hidden_states))


class ResidualRegressorPreTrainedModel(PriceModelMixin, PreTrainedModel):
    """Initialises linear layers, the hashed-feature projection included, ~ N(0, `initializer_range`) with
    zero bias, and layer norms at identity."""

    config_class = ResidualRegressorConfig
    base_model_prefix = "residual"
    main_input_name = "input_features"

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, HashedFeatureProjection):  # initialised as the `nn.Linear` it stands for
            init.normal_(module.weight, mean=0.0, std=std)
            init.zeros_(module.bias)
        else:
            init_standard_layers(module, std)


class ResidualRegressorForPriceRegression(ResidualRegressorPreTrainedModel):
    """The deep residual MLP with a price head.

    The network predicts the standardized log price `z`; `log_price = z * log_price_std + log_price_mean`
    and `predictions = max(expm1(log_price), min_price)`, with the statistics stored in the config.
    """

    def __init__(self, config: ResidualRegressorConfig):
        super().__init__(config)
        self.input_projection = HashedFeatureProjection(config.num_features, config.hidden_size)
        if config.numeric_feature_names or config.categorical_feature_names:
            self.tabular_embedding = TabularEmbedding(
                len(config.numeric_feature_names), list(config.categorical_cardinalities), config.hidden_size
            )
        self.input_norm = nn.LayerNorm(config.hidden_size)
        self.input_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            ResidualBlock(config.hidden_size, config.dropout) for _ in range(config.num_layers - 2)
        )
        self.output_layer = nn.Linear(config.hidden_size, self.num_price_outputs)
        self.post_init()

    @can_return_tuple
    @price_forward_docstring
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        feature_ids: torch.LongTensor | None = None,
        feature_weights: torch.Tensor | None = None,
        numeric_features: torch.Tensor | None = None,
        categorical_features: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> PriceRegressionOutput:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch_size, num_features)`, *optional*):
            Dense hashed bag-of-words features, as produced by the processor with `sparse=False`.
        feature_ids (`torch.LongTensor` of shape `(batch_size, max_active_features)`, *optional*):
            Indices of the non-zero hashed features (processor with `sparse=True`), padded with index 0.
        feature_weights (`torch.FloatTensor` of shape `(batch_size, max_active_features)`, *optional*):
            Values of those features; 0 for padding.
        """
        if (input_features is None) == (feature_ids is None):
            raise ValueError("Pass exactly one of `input_features` (dense) or `feature_ids` (sparse feature indices)")
        if feature_ids is not None and (feature_weights is None or feature_weights.shape != feature_ids.shape):
            raise ValueError("`feature_weights` must come with `feature_ids`, with the same shape")
        if input_features is not None and input_features.shape[-1] != self.config.num_features:
            raise ValueError(
                f"`input_features` has {input_features.shape[-1]} features, the model expects "
                f"{self.config.num_features} (config.num_features)"
            )
        if feature_ids is not None and feature_ids.numel() and int(feature_ids.max()) >= self.config.num_features:
            raise ValueError(
                f"`feature_ids` holds feature index {int(feature_ids.max())}, beyond config.num_features="
                f"{self.config.num_features}"
            )
        check_tabular_inputs(self.config, numeric_features, categorical_features)
        hidden = self.input_projection(input_features, feature_ids, feature_weights)
        if hasattr(self, "tabular_embedding"):
            hidden = hidden + self.tabular_embedding(numeric_features, categorical_features)
        hidden = self.input_dropout(F.relu(self.input_norm(hidden)))
        for block in self.blocks:
            hidden = block(hidden)
        return self.price_outputs_from_embeddings(hidden, labels)

    @property
    def price_output_layer(self) -> nn.Linear:
        return self.output_layer


__all__ = ["ResidualRegressorForPriceRegression", "ResidualRegressorPreTrainedModel"]
