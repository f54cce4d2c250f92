"""Configuration of the embedding aligner: text embedding → image embedding MLP."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from hf_pricer.configuration_utils import RenamedModelTypeMixin

ALIGNER_LOSS_TYPES = ("cosine", "contrastive", "cosine+contrastive")
ACTIVATIONS = ("relu", "gelu", "silu", "tanh")


@strict
class EmbeddingAlignerConfig(RenamedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of an [`EmbeddingAlignerModel`]: an MLP `in_dim → hidden_size → out_dim` that maps the
    embedding of a caption onto the embedding of its image. The defaults are those of the design this model
    follows (1024 → 4096 → 1536, ReLU, dropout 0.2, cosine loss).

    Args:
        in_dim (`int`, *optional*, defaults to 1024):
            Width of the text embeddings (`text_embeds`).
        hidden_size (`int`, *optional*, defaults to 4096):
            Width of the hidden layer.
        out_dim (`int`, *optional*, defaults to 1536):
            Width of the image embeddings the model predicts.
        hidden_act (`str`, *optional*, defaults to `"relu"`):
            Activation of the hidden layer: `"relu"`, `"gelu"`, `"silu"` or `"tanh"`.
        dropout (`float`, *optional*, defaults to 0.2):
            Dropout after the activation.
        loss_type (`str`, *optional*, defaults to `"cosine"`):
            `"cosine"`: `1 - cos(predicted, true)` per row (the design's loss);
            `"contrastive"`: symmetric InfoNCE over the batch, the other rows' images being the negatives
            (rows with the same image count as positives of each other);
            `"cosine+contrastive"`: `cosine + contrastive_weight * contrastive`.
        contrastive_weight (`float`, *optional*, defaults to 1.0):
            Weight of the contrastive term in `"cosine+contrastive"`.
        temperature (`float`, *optional*, defaults to 0.07):
            Softmax temperature of the contrastive loss (its initial value when it is learned).
        learn_temperature (`bool`, *optional*, defaults to `True`):
            Learn the temperature as CLIP does (a log-scale parameter, the scale capped at 100).
        initializer_range (`float`, *optional*):
            Standard deviation of the normal initialisation of the linear layers; `None` keeps PyTorch's
            default (Kaiming-uniform) initialisation, as the design does.

    Example:

    ```python
    >>> from hf_pricer import EmbeddingAlignerConfig, EmbeddingAlignerModel
    >>> model = EmbeddingAlignerModel(EmbeddingAlignerConfig(in_dim=384, hidden_size=1024, out_dim=1280))
    ```
    """

    model_type = "hf_pricer_embedding_aligner"
    legacy_model_types = ("hf_pricer_aligner",)
    # Not a prediction: the Trainer leaves it out of the gathered predictions.
    keys_to_ignore_at_inference = ["logit_scale"]  # noqa: RUF012 -- the Trainer concatenates it to a list

    in_dim: int = 1024
    hidden_size: int = 4096
    out_dim: int = 1536
    hidden_act: str = "relu"
    dropout: float | int = 0.2
    loss_type: str = "cosine"
    contrastive_weight: float | int = 1.0
    temperature: float | int = 0.07
    learn_temperature: bool = True
    initializer_range: float | None = None

    @property
    def uses_contrastive_loss(self) -> bool:
        return "contrastive" in self.loss_type

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        for name in ("in_dim", "hidden_size", "out_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"`hidden_act` must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if self.loss_type not in ALIGNER_LOSS_TYPES:
            raise ValueError(f"`loss_type` must be one of {ALIGNER_LOSS_TYPES}, got {self.loss_type!r}")
        if not self.temperature > 0:
            raise ValueError(f"`temperature` must be positive, got {self.temperature}")
        if self.contrastive_weight < 0:
            raise ValueError(f"`contrastive_weight` must be non-negative, got {self.contrastive_weight}")
        if self.initializer_range is not None and not self.initializer_range > 0:
            raise ValueError(f"`initializer_range` must be positive or None, got {self.initializer_range}")


__all__ = ["EmbeddingAlignerConfig"]
