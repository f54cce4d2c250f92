"""Dual-embedding regressor: image → ViT → {visual features, company embedding, model embedding} → attention
→ MLP → N numeric targets.

Stage 1 trains two [`EmbeddingClassifierForImageClassification`] models on the images, one for the level-1
label ("company", e.g. a manufacturer) and one for the level-2 label ("model", the model type).

Stage 2, [`DualEmbeddingForRegression`], holds both classifiers' embedding models (`EmbeddingClassifierModel`,
built with `AutoModel.from_config`; the classifier heads are dropped): the company model's `[CLS]` state is the
visual feature vector (768-d for ViT-Base), its projection the company embedding, and the model-type classifier
gives the model embedding. The three are projected to `embedding_dim` and fused by additive attention
(`attention_type`), and an MLP regresses the standardized targets. The attention weights are part of the output.

Progressive unfreezing (by default the head alone until epoch 20, the top half of the embedding models from 20,
everything from 40) is [`DualEmbeddingForRegression.freeze_schedule`], applied by [`FreezeWarmupCallback`].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForImageClassification, PreTrainedModel
from transformers.utils import ModelOutput, can_return_tuple

from hf_pricer.modeling_utils import PricerLossMixin

from .configuration_dual_embedding import DualEmbeddingConfig


@dataclass
class DualEmbeddingRegressionOutput(ModelOutput):
    """Output of [`DualEmbeddingForRegression`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are passed):
            The per-target loss on the standardized targets, averaged over targets and batch.
        predictions (`torch.FloatTensor` of shape `(batch_size, num_targets)`):
            Predicted targets in their own units, in `config.target_names` order.
        attention_weights (`torch.FloatTensor` of shape `(batch_size, num_branches)`):
            Fusion weights, summing to 1 per row: over (company, model) for `"dual"`; over (visual, company,
            model) for `"triple"` and for `"hierarchical"` (there the product of its two levels).
        embedding_attention_weights (`torch.FloatTensor` of shape `(batch_size, 2)`, *optional*):
            The (company, model) weights of the first level of `"hierarchical"` attention.
    """

    loss: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    attention_weights: torch.FloatTensor | None = None
    embedding_attention_weights: torch.FloatTensor | None = None


class DualEmbeddingPreTrainedModel(PricerLossMixin, PreTrainedModel):
    """The model's own layers (linear and layer norm) get transformers' default initialisation (normal with
    `config.initializer_range`); the embedding models are `PreTrainedModel`s and initialise themselves (or
    keep their loaded weights), and bring their ViT's `_no_split_modules`."""

    config_class = DualEmbeddingConfig
    base_model_prefix = "dual_embedding"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _supports_sdpa = True


class BranchProjection(nn.Sequential):
    """One branch (visual features or an embedding) → the common space: Linear → LayerNorm → GELU → Dropout."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__(nn.Linear(in_features, out_features), nn.LayerNorm(out_features), nn.GELU(), nn.Dropout(dropout))


class BranchAttention(nn.Module):
    """Additive attention over K branch vectors: a shared MLP scores each, softmax over K weighs them."""

    def __init__(self, dim: int, hidden_size: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))

    def forward(self, branches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`branches` `(batch_size, K, dim)` → (weights `(batch_size, K)`, weighted sum `(batch_size, dim)`)."""
        weights = self.score(branches).squeeze(-1).float().softmax(dim=-1).to(branches.dtype)
        return weights, torch.einsum("bk,bkd->bd", weights, branches)


class DualEmbeddingForRegression(DualEmbeddingPreTrainedModel):
    """Stage 2, the dual-embedding regressor (see the module docstring).

    Submodules: `company_encoder` and `model_encoder` (`EmbeddingClassifierModel`), `visual_projection`,
    `company_projection`, `model_projection`, `embedding_attention` (`"dual"`, `"hierarchical"`),
    `branch_attention` (`"triple"`, `"hierarchical"`), `head`. `encoder_parameter_prefixes` names the embedding
    models, e.g. for their learning rate:

    ```python
    >>> rates = {prefix: 0.1 * learning_rate for prefix in DualEmbeddingForRegression.encoder_parameter_prefixes}
    >>> args = PricerTrainingArguments(..., learning_rate=learning_rate, module_learning_rates=rates)
    >>> trainer = PricerTrainer(model, args, callbacks=[FreezeWarmupCallback()])  # config.unfreeze_epochs
    ```
    """

    card_task = "image-regression"  # the model card's task, see `hf_pricer.hub.CARD_TASKS`
    encoder_parameter_prefixes = ("company_encoder", "model_encoder")

    def __init__(self, config: DualEmbeddingConfig):
        super().__init__(config)
        dim, dropout = config.embedding_dim, config.dropout
        self.company_encoder = AutoModel.from_config(config.company_config)
        self.model_encoder = AutoModel.from_config(config.model_config)
        visual_dim = config.company_config.vision_config.hidden_size
        self.visual_projection = BranchProjection(visual_dim, dim, dropout)
        self.company_projection = BranchProjection(config.company_config.embedding_dim, dim, dropout)
        self.model_projection = BranchProjection(config.model_config.embedding_dim, dim, dropout)
        if config.attention_type in ("dual", "hierarchical"):
            self.embedding_attention = BranchAttention(dim, config.attention_hidden_size)
        if config.attention_type in ("triple", "hierarchical"):
            self.branch_attention = BranchAttention(dim, config.attention_hidden_size)
        head_input = 2 * dim if config.attention_type == "dual" else dim
        self.head = nn.Sequential(
            nn.Linear(head_input, config.head_hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(config.head_hidden_size, len(config.target_names)),
        )
        self.post_init()

    @classmethod
    def from_classifiers(
        cls,
        company_classifier: str | PreTrainedModel,
        model_classifier: str | PreTrainedModel,
        **config_kwargs,
    ) -> DualEmbeddingForRegression:
        """A stage-2 model whose embedding models are copies of two trained stage-1 classifiers (objects, Hub ids
        or folders); the fusion and the head are new. `config_kwargs` are other [`DualEmbeddingConfig`] fields."""
        classifiers = [
            AutoModelForImageClassification.from_pretrained(value) if isinstance(value, str) else value
            for value in (company_classifier, model_classifier)
        ]
        configs = [classifier.config for classifier in classifiers]
        if configs[0].vision_config.image_size != configs[1].vision_config.image_size:
            raise ValueError(
                "the company and model classifiers must take the same image size, got "
                f"{configs[0].vision_config.image_size} and {configs[1].vision_config.image_size}"
            )
        model = cls(DualEmbeddingConfig(company_config=configs[0], model_config=configs[1], **config_kwargs))
        model.company_encoder.load_state_dict(classifiers[0].embedder.state_dict())
        model.model_encoder.load_state_dict(classifiers[1].embedder.state_dict())
        return model

    @classmethod
    def encoder_learning_rates(cls, learning_rate: float, multiplier: float) -> dict[str, float]:
        """`module_learning_rates` putting both embedding models at `multiplier` × `learning_rate` (0.1 in the
        design this model follows)."""
        return {prefix: learning_rate * multiplier for prefix in cls.encoder_parameter_prefixes}

    def freeze_schedule(self) -> dict[str, float]:
        """Parameter-name prefix → epoch from which it trains, from `config.unfreeze_epochs = [E1, E2]` and
        `config.unfreeze_fraction`: the top `unfreeze_fraction` of each embedding model's ViT layers, its final
        layer norm and its projection from E1; its lower layers and patch embeddings from E2. Fusion and head
        always train. Prefixes never overlap, so resuming mid-schedule freezes exactly the right modules."""
        first, full = self.config.unfreeze_epochs
        schedule = {}
        for prefix in self.encoder_parameter_prefixes:
            for name, child in getattr(self, prefix).vit.named_children():
                if not any(True for _ in child.parameters()):
                    continue
                if isinstance(child, nn.ModuleList):  # the transformer layers, bottom to top
                    num_top = math.ceil(len(child) * self.config.unfreeze_fraction)
                    for index in range(len(child)):
                        schedule[f"{prefix}.vit.{name}.{index}"] = first if index >= len(child) - num_top else full
                else:
                    schedule[f"{prefix}.vit.{name}"] = full if name == "embeddings" else first
            schedule[f"{prefix}.projection"] = first
        return schedule

    def _target_statistics(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The config's per-target mean and std, as float32 tensors (read from the config, so they follow it)."""
        mean = torch.tensor(self.config.target_mean, dtype=torch.float32, device=device)
        return mean, torch.tensor(self.config.target_std, dtype=torch.float32, device=device)

    def loss_sum(self, outputs: DualEmbeddingRegressionOutput, labels: torch.Tensor) -> torch.Tensor:
        """Per-target loss on standardized targets, averaged over targets and summed over examples."""
        predictions = outputs.predictions.float()
        labels = labels.to(predictions.device, torch.float32)
        if labels.shape != predictions.shape:
            raise ValueError(
                f"`labels` must have shape (batch_size, {len(self.config.target_names)}) for targets "
                f"{self.config.target_names}, got {tuple(labels.shape)}"
            )
        mean, std = self._target_statistics(predictions.device)
        predicted, true = (predictions - mean) / std, (labels - mean) / std
        loss = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.huber_loss}[self.config.loss_type]
        return loss(predicted, true, reduction="none").mean(dim=1).sum()

    @can_return_tuple
    def forward(
        self, pixel_values: torch.FloatTensor, labels: torch.FloatTensor | None = None
    ) -> DualEmbeddingRegressionOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Normalised images; both embedding models see the same ones.
        labels (`torch.FloatTensor` of shape `(batch_size, num_targets)`, *optional*):
            True targets in their own units, in `config.target_names` order.
        """
        company = self.company_encoder(pixel_values)
        model = self.model_encoder(pixel_values)
        visual = self.visual_projection(company.image_features)
        embeddings = torch.stack([self.company_projection(company.embeddings), self.model_projection(model.embeddings)], 1)

        embedding_weights = None
        attention_type = self.config.attention_type
        if attention_type == "dual":
            weights, combined = self.embedding_attention(embeddings)
            fused = torch.cat([visual, combined], dim=-1)
        elif attention_type == "triple":
            weights, fused = self.branch_attention(torch.cat([visual[:, None], embeddings], dim=1))
        else:
            embedding_weights, combined = self.embedding_attention(embeddings)
            top_weights, fused = self.branch_attention(torch.stack([visual, combined], dim=1))
            weights = torch.cat([top_weights[:, :1], top_weights[:, 1:] * embedding_weights], dim=-1)

        standardized = self.head(fused).float()
        mean, std = self._target_statistics(standardized.device)
        outputs = DualEmbeddingRegressionOutput(
            predictions=standardized * std + mean,
            attention_weights=weights,
            embedding_attention_weights=embedding_weights,
        )
        return self.add_loss(outputs, labels)


__all__ = [
    "DualEmbeddingForRegression",
    "DualEmbeddingPreTrainedModel",
    "DualEmbeddingRegressionOutput",
]
