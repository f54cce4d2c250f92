"""Configuration of the Resformer: product image + entity type → "<value> <unit>" text."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from hf_pricer.configuration_utils import PipelineConfigMixin

from .tokenization_resformer import canonical_entity_units, grammar_token_ids


@strict
class ResformerConfig(PipelineConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`ResformerForConditionalGeneration`]: a ResNet image encoder whose blocks carry
    self-attention, a patch embedding over its feature map, an entity-type embedding added to every patch,
    and a transformer encoder-decoder that writes the entity value and unit token by token. The defaults
    are the sizes of the design this model follows (400 px, d_model 2048, 16 heads, 16-pixel patches, at most
    64 output tokens).

    The ResNet starts with a stride-2 3×3 convolution; stage `i` has `resnet_depths[i]` basic blocks of
    `resnet_hidden_sizes[i]` channels, the first one with stride `resnet_strides[i]`. Blocks of the stages
    listed in `resnet_attention_stages` end with multi-head self-attention over all positions of their
    feature map. Each encoder token covers `patch_size × patch_size` input pixels: the patch embedding is a
    convolution with kernel and stride `patch_size / (2 * prod(resnet_strides))` over the last feature map.

    Args:
        entity_units (`dict[str, list[str]]`, *optional*):
            Allowed units per entity name; defaults to the challenge's. Entities and units are kept sorted;
            entity ids are positions in that order, and the output vocabulary is built from it (see
            [`ResformerTokenizer`]): build the tokenizer with the same mapping. The token-id fields below are
            derived from it.
        image_size (`int`, *optional*, defaults to 400): side of the square `pixel_values`.
        num_channels (`int`, *optional*, defaults to 3): image channels.
        resnet_hidden_sizes (`list[int]`, *optional*, defaults to `[64, 128, 256, 512]`): channels per stage.
        resnet_depths (`list[int]`, *optional*, defaults to `[2, 2, 2, 2]`): blocks per stage.
        resnet_strides (`list[int]`, *optional*, defaults to `[1, 2, 2, 2]`): stride of each stage's first block.
        resnet_attention_stages (`list[int]`, *optional*, defaults to `[2, 3]`):
            Stages whose blocks carry self-attention.
        resnet_attention_heads (`int`, *optional*, defaults to 8): heads of that self-attention.
        patch_size (`int`, *optional*, defaults to 16): input pixels per encoder token side.
        d_model (`int`, *optional*, defaults to 2048): width of the transformer.
        num_attention_heads (`int`, *optional*, defaults to 16): heads of the transformer layers.
        encoder_layers (`int`, *optional*, defaults to 6): transformer encoder layers.
        decoder_layers (`int`, *optional*, defaults to 6): transformer decoder layers.
        ffn_dim (`int`, *optional*): feed-forward width; `4 * d_model` when not given.
        dropout (`float`, *optional*, defaults to 0.1): dropout in the transformer layers.
        max_target_positions (`int`, *optional*, defaults to 64):
            Longest output, in tokens (decoder start and end-of-sequence included); `generate`'s default
            `max_length`.
        max_number_tokens (`int`, *optional*, defaults to 12):
            Longest number (digits and point) that constrained decoding lets the model write.
        constrained_decoding (`bool`, *optional*, defaults to `True`):
            `generate` only produces well-formed numbers followed by a unit valid for the row's entity (see
            [`ResformerConstrainedLogitsProcessor`]); `generate(..., constrained_decoding=False)` switches it off.
        canonical_numbers (`bool`, *optional*, defaults to `True`):
            Constrained decoding writes numbers in the canonical form ground truths are compared in
            (`format_prediction`: `"2.0"`, `"2.5"`, never `"2"` or `"2.50"`).
        allow_empty_prediction (`bool`, *optional*, defaults to `True`):
            Whether constrained decoding may end at once, producing the empty prediction ("no value shown").
        initializer_range (`float`, *optional*, defaults to 0.02): std of the normal init of linear layers
            and embeddings.
        use_ocr_tokens (`bool`, *optional*, defaults to `False`):
            Read the OCR's word tokens too: each token (hashed character n-grams of its text, its type and its
            LayoutLM-style box on 0–1000) is embedded and fed to the encoder after the image patches, with the
            entity embedding added to both; the decoder copies numbers from the OCR through a pointer over its
            number candidates (see [`ResformerForConditionalGeneration`]). The processor runs the OCR (the
            `ocr` extra) unless OCR lines are given.
        max_ocr_tokens (`int`, *optional*, defaults to 64): OCR word tokens read per image (the rest are cut).
        ocr_hash_buckets (`int`, *optional*, defaults to 4096): hash buckets of the OCR tokens' n-gram embedding.
        ocr_ids_per_token (`int`, *optional*, defaults to 24): n-gram ids per OCR token (longer words are cut).
        ocr_position_embeddings (`bool`, *optional*, defaults to `False`): also embed each OCR token's index in
            reading order (LayoutLM's 1-D position), next to its box.

    Example:

    ```python
    >>> from hf_pricer import ResformerConfig, ResformerForConditionalGeneration
    >>> config = ResformerConfig.cpu_preset()
    >>> model = ResformerForConditionalGeneration(config)
    ```
    """

    model_type = "hf_pricer_resformer"

    entity_units: dict | None = None
    image_size: int = 400
    num_channels: int = 3
    resnet_hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    resnet_depths: list[int] | tuple[int, ...] = (2, 2, 2, 2)
    resnet_strides: list[int] | tuple[int, ...] = (1, 2, 2, 2)
    resnet_attention_stages: list[int] | tuple[int, ...] = (2, 3)
    resnet_attention_heads: int = 8
    patch_size: int = 16
    d_model: int = 2048
    num_attention_heads: int = 16
    encoder_layers: int = 6
    decoder_layers: int = 6
    ffn_dim: int | None = None
    dropout: float | int = 0.1
    max_target_positions: int = 64
    max_number_tokens: int = 12
    constrained_decoding: bool = True
    canonical_numbers: bool = True
    allow_empty_prediction: bool = True
    initializer_range: float = 0.02
    use_ocr_tokens: bool = False
    max_ocr_tokens: int = 64
    ocr_hash_buckets: int = 4096
    ocr_ids_per_token: int = 24
    ocr_position_embeddings: bool = False
    is_encoder_decoder: bool = True
    # Derived from `entity_units` (see `grammar_token_ids`); stored so that the config is self-contained.
    vocab_size: int | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    decoder_start_token_id: int | None = None
    digit_token_ids: list[int] | None = None
    decimal_token_id: int | None = None
    unit_token_ids: dict | None = None

    def __post_init__(self, **kwargs):
        self.entity_units = canonical_entity_units(self.entity_units)
        for name, value in grammar_token_ids(self.entity_units).items():
            setattr(self, name, value)
        for name in ("resnet_hidden_sizes", "resnet_depths", "resnet_strides", "resnet_attention_stages"):
            setattr(self, name, list(getattr(self, name)))
        if self.ffn_dim is None:
            self.ffn_dim = 4 * self.d_model
        super().__post_init__(**kwargs)

    @property
    def entity_names(self) -> list[str]:
        return list(self.entity_units)

    @property
    def feature_stride(self) -> int:
        """Input pixels per position of the ResNet's last feature map."""
        stride = 2
        for value in self.resnet_strides:
            stride *= value
        return stride

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @classmethod
    def cpu_preset(cls, **kwargs) -> "ResformerConfig":
        """A small Resformer (~1M parameters) that learns to read 128-px rendered labels on a CPU: a stride-8
        ResNet of 32/64/96 channels with self-attention in its last stage, and 8×8 tokens of 16×16 pixels."""
        preset = dict(
            image_size=128,
            resnet_hidden_sizes=[32, 64, 96],
            resnet_depths=[1, 1, 1],
            resnet_strides=[2, 2, 1],
            resnet_attention_stages=[2],
            resnet_attention_heads=4,
            patch_size=16,
            d_model=128,
            num_attention_heads=4,
            encoder_layers=2,
            decoder_layers=2,
            ffn_dim=256,
            dropout=0.0,
            max_target_positions=24,
        )
        return cls(**{**preset, **kwargs})

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        if not self.entity_units or any(not units for units in self.entity_units.values()):
            raise ValueError(f"`entity_units` must map every entity name to at least one unit, got {self.entity_units}")
        stages = len(self.resnet_hidden_sizes)
        if stages == 0 or len(self.resnet_depths) != stages or len(self.resnet_strides) != stages:
            raise ValueError(
                "`resnet_hidden_sizes`, `resnet_depths` and `resnet_strides` must be non-empty and of equal "
                f"length, got {self.resnet_hidden_sizes}, {self.resnet_depths}, {self.resnet_strides}"
            )
        for stage in self.resnet_attention_stages:
            if not 0 <= stage < stages:
                raise ValueError(f"`resnet_attention_stages` entry {stage} is not a stage index (0..{stages - 1})")
            if self.resnet_hidden_sizes[stage] % self.resnet_attention_heads:
                raise ValueError(
                    f"stage {stage} has {self.resnet_hidden_sizes[stage]} channels, not divisible by "
                    f"`resnet_attention_heads` ({self.resnet_attention_heads})"
                )
        if self.patch_size % self.feature_stride:
            raise ValueError(
                f"`patch_size` ({self.patch_size}) must be a multiple of the ResNet's stride "
                f"({self.feature_stride} = 2 * prod(resnet_strides))"
            )
        if self.image_size % self.patch_size:
            raise ValueError(f"`image_size` ({self.image_size}) must be a multiple of `patch_size` ({self.patch_size})")
        if self.d_model % self.num_attention_heads:
            raise ValueError(
                f"`d_model` ({self.d_model}) must be divisible by `num_attention_heads` ({self.num_attention_heads})"
            )
        for name in ("max_ocr_tokens", "ocr_ids_per_token"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        if self.ocr_hash_buckets < 2:
            raise ValueError(f"`ocr_hash_buckets` must be at least 2, got {self.ocr_hash_buckets}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if not 3 <= self.max_number_tokens <= self.max_target_positions - 3:
            raise ValueError(
                f"`max_number_tokens` ({self.max_number_tokens}) must be at least 3 and leave room for the start, "
                f"unit and end tokens in `max_target_positions` ({self.max_target_positions})"
            )


__all__ = ["ResformerConfig"]
