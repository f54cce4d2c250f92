"""Embedding aligner: an MLP from text embeddings to image embeddings.

Losses, per row, summed by `loss_sum` for `PricerTrainer`:

- `cosine`: `1 - cos(predicted, true)`, the design's loss. It is a sum over rows, so gradient accumulation
  and multi-process training give exactly the gradient of the whole batch.
- `contrastive`: symmetric InfoNCE. A row's text→image term is a softmax over the images of its
  micro-batch, its image→text term a softmax over the captions; rows whose images are identical (several
  captions of one image) are positives of each other, not negatives. The negatives are those of the
  micro-batch on its own process: with gradient accumulation or several processes, the loss is the
  row-weighted mean of per-micro-batch InfoNCE, i.e. `per_device_train_batch_size` sets the number of
  negatives, not the effective batch size.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.utils import ModelOutput, can_return_tuple

from hf_pricer.modeling_utils import PricerLossMixin

from .configuration_embedding_aligner import EmbeddingAlignerConfig

# CLIP caps the learned logit scale at 100 (temperature 0.01) to keep training stable.
MAX_LOGIT_SCALE = 100.0
# Two targets whose cosine similarity exceeds this are the same image (float32 rounding of identical rows).
_SAME_IMAGE_COSINE = 1.0 - 1e-5


@dataclass
class EmbeddingAlignerOutput(ModelOutput):
    """Output of [`EmbeddingAlignerModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are passed):
            The configured loss, averaged over the rows of the batch.
        predictions (`torch.FloatTensor` of shape `(batch_size, out_dim)`):
            Predicted image embeddings.
        logit_scale (`torch.FloatTensor` of shape `()`, *optional*):
            `1 / temperature` of the contrastive loss (contrastive loss types only).
    """

    loss: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    logit_scale: torch.FloatTensor | None = None


def cosine_loss(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`1 - cos(predictions, labels)` per row, shape `(batch_size,)`, in float32."""
    return 1.0 - F.cosine_similarity(predictions.float(), labels.float(), dim=-1)


def contrastive_loss(predictions: torch.Tensor, labels: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives, per row, shape `(batch_size,)`, in float32.

    Row `i` gets `(text→image_i + image→text_i) / 2`, each `-log(sum over positives / sum over all)` of
    `exp(logit_scale * cosine)`; rows with the same image are positives of each other.
    """
    predicted = F.normalize(predictions.float(), dim=-1)
    target = F.normalize(labels.float(), dim=-1)
    logits = logit_scale.float() * predicted @ target.T
    same_image = (target @ target.T) > _SAME_IMAGE_COSINE
    same_image.fill_diagonal_(True)
    positive_logits = logits.masked_fill(~same_image, float("-inf"))
    text_to_image = torch.logsumexp(logits, dim=1) - torch.logsumexp(positive_logits, dim=1)
    image_to_text = torch.logsumexp(logits, dim=0) - torch.logsumexp(positive_logits, dim=0)
    return (text_to_image + image_to_text) / 2


class EmbeddingAlignerPreTrainedModel(PricerLossMixin, PreTrainedModel):
    """Initialises linear layers ~ N(0, `initializer_range`), or as PyTorch does by default when it is `None`,
    and a learned logit scale at `log(1 / temperature)`; computes the configured loss per row."""

    config_class = EmbeddingAlignerConfig
    base_model_prefix = "aligner"
    main_input_name = "text_embeds"

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            std = self.config.initializer_range
            if std is None:  # PyTorch's default `nn.Linear` initialisation, which the design uses
                init.kaiming_uniform_(module.weight, a=math.sqrt(5))
                bound = 1 / math.sqrt(module.in_features)
                init.uniform_(module.bias, -bound, bound)
            else:
                init.normal_(module.weight, mean=0.0, std=std)
                init.zeros_(module.bias)
        elif isinstance(module, EmbeddingAlignerModel) and module.logit_scale is not None:
            init.constant_(module.logit_scale, math.log(1.0 / self.config.temperature))

    def loss_sum(self, outputs: EmbeddingAlignerOutput, labels: torch.Tensor) -> torch.Tensor:
        return self.per_row_loss(outputs.predictions, labels, outputs.logit_scale).sum()

    def per_row_loss(self, predictions, labels, logit_scale=None) -> torch.Tensor:
        """The configured loss of every row, shape `(batch_size,)`."""
        if labels.shape != predictions.shape:
            raise ValueError(
                f"`labels` (true image embeddings) must have shape {tuple(predictions.shape)}, got {tuple(labels.shape)}"
            )
        labels = labels.to(predictions.device)
        loss_type = self.config.loss_type
        if loss_type == "cosine":
            return cosine_loss(predictions, labels)
        contrastive = contrastive_loss(predictions, labels, logit_scale)
        if loss_type == "contrastive":
            return contrastive
        return cosine_loss(predictions, labels) + self.config.contrastive_weight * contrastive


class EmbeddingAlignerModel(EmbeddingAlignerPreTrainedModel):
    """The aligner: `Linear(in_dim, hidden) → activation (ReLU) → Dropout → Linear(hidden, out_dim)`."""

    card_task = "embedding-alignment"  # the model card's task, see `hf_pricer.hub.CARD_TASKS`

    def __init__(self, config: EmbeddingAlignerConfig):
        super().__init__(config)
        self.fc1 = nn.Linear(config.in_dim, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.hidden_size, config.out_dim)
        self.logit_scale = None
        if config.uses_contrastive_loss and config.learn_temperature:
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))
        self.post_init()

    def _logit_scale(self) -> torch.Tensor | None:
        if not self.config.uses_contrastive_loss:
            return None
        if self.logit_scale is None:
            return torch.tensor(1.0 / self.config.temperature, device=self.fc1.weight.device)
        return self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    @can_return_tuple
    def forward(self, text_embeds: torch.Tensor, labels: torch.Tensor | None = None) -> EmbeddingAlignerOutput:
        r"""
        text_embeds (`torch.FloatTensor` of shape `(batch_size, in_dim)`):
            Caption embeddings.
        labels (`torch.FloatTensor` of shape `(batch_size, out_dim)`, *optional*):
            True image embeddings; when given, `loss` is the config's `loss_type`, averaged over rows.
        """
        if text_embeds.dim() != 2 or text_embeds.shape[-1] != self.config.in_dim:
            raise ValueError(
                f"`text_embeds` must have shape (batch_size, {self.config.in_dim}) (config.in_dim), got "
                f"{tuple(text_embeds.shape)}"
            )
        hidden = self.dropout(self.activation(self.fc1(text_embeds.to(self.fc1.weight.dtype))))
        predictions = self.fc2(hidden)
        # The scale goes through `forward` so that DDP sees the parameter used.
        logit_scale = self._logit_scale()
        outputs = EmbeddingAlignerOutput(predictions=predictions, logit_scale=logit_scale)
        return self.add_loss(outputs, labels)


__all__ = ["EmbeddingAlignerModel", "EmbeddingAlignerOutput", "EmbeddingAlignerPreTrainedModel"]
