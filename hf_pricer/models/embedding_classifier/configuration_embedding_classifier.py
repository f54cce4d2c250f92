"""Configuration of the embedding classifier: a ViT image encoder, an embedding projection and a classifier."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig, ViTConfig


@strict
class EmbeddingClassifierConfig(PreTrainedConfig):
    r"""
    Configuration of an [`EmbeddingClassifierForImageClassification`]: a ViT encoder whose `[CLS]` state is
    projected to an embedding, followed by a linear classifier. Stage 1 of the dual-embedding regressor trains
    one for the level-1 label (a manufacturer in the design, "company") and one for the level-2 label ("model
    type"); stage 2 reuses their encoders and projections. The defaults are those of the design this model
    follows (ViT-Base, 256-d).

    The classes are `id2label` / `label2id` (see [`PreTrainedConfig`]); `num_labels` follows them.

    Args:
        vision_config (`ViTConfig` or `dict`, *optional*):
            The ViT encoder. Defaults to `ViTConfig()` (ViT-Base/16 at 224 px, 768-d).
        embedding_dim (`int`, *optional*, defaults to 256):
            Size of the embedding the `[CLS]` state is projected to (the design searches 128, 256, 512).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout between the embedding and the classifier.
        label_field (`str`, *optional*, defaults to `"company"`):
            Record field holding the label this classifier predicts (`"company"` or `"model"`).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the projection and the classifier.

    Example:

    ```python
    >>> from transformers import ViTConfig
    >>> from hf_pricer import EmbeddingClassifierConfig, EmbeddingClassifierForImageClassification
    >>> vision_config = ViTConfig(
    ...     hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
    ...     patch_size=8,
    ... )
    >>> config = EmbeddingClassifierConfig(
    ...     vision_config=vision_config, embedding_dim=16, id2label={0: "acme", 1: "zenith"}
    ... )
    >>> model = EmbeddingClassifierForImageClassification(config)
    ```
    """

    model_type = "hf_pricer_embedding_classifier"
    sub_configs_defaults = {"vision_config": ViTConfig}

    vision_config: ViTConfig | dict | None = None
    embedding_dim: int = 256
    dropout: float | int = 0.1
    label_field: str = "company"
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.id2label is not None and self.label2id is None:
            self.label2id = {label: index for index, label in self.id2label.items()}

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        if self.embedding_dim < 1:
            raise ValueError(f"`embedding_dim` must be positive, got {self.embedding_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if not self.label_field:
            raise ValueError("`label_field` must name a record field, got an empty string")


__all__ = ["EmbeddingClassifierConfig"]
