"""Resformer: reads an entity's value and unit off a product image and writes it as text.

pixel_values → ResNet (basic blocks, self-attention in the chosen stages) → patch embedding → patch tokens
+ learned position embedding + entity-type embedding → transformer encoder → transformer decoder over the
output tokens (digits, ".", one unit, end) → next-token logits.

`generate()` runs the image encoder once (`get_encoder()`), keeps its output in `encoder_outputs` (expanded
for beams and sampled sequences by `GenerationMixin`) and re-runs the small decoder on the whole prefix at
every step; outputs are a few tokens long, so the model keeps no key/value cache and `generate` never
builds one. By default a [`ResformerConstrainedLogitsProcessor`] restricts the output to well-formed
numbers and units valid for each row's entity (`config.constrained_decoding`).

With `config.use_ocr_tokens` the encoder also reads the OCR's word tokens (after the patches), and the output
distribution is a mixture: a pointer over the OCR's number candidates (each scored by an MLP of its encoded token,
the next token, the entity embedding and the decoder's first state) or "none of them". A candidate writes its digits exactly, then a unit of the
row's entity (from `lm_head`) and end-of-sequence; "none" is the plain decoder. At every step the logits are the
mixture's next-token log-probabilities given the prefix (candidates inconsistent with the prefix drop out), so
the training loss is the marginal likelihood over candidates equal to the answer, and `generate` (greedy, beams,
sampling) and the constrained decoding work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, LogitsProcessor, LogitsProcessorList, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput

from hf_pricer.modeling_utils import PipelineTaskMixin, PricerLossMixin, init_standard_layers

from .configuration_resformer import ResformerConfig
from .tokenization_resformer import shift_tokens_right

IGNORE_INDEX = -100


@dataclass
class ResformerOutput(ModelOutput):
    """Output of [`ResformerForConditionalGeneration`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are passed):
            Token cross-entropy averaged over the non-padding label tokens.
        logits (`torch.FloatTensor` of shape `(batch_size, target_length, vocab_size)`):
            Next-token scores at every decoder position.
        encoder_last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_patches, d_model)`):
            The encoded image tokens the decoder attends to.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None


class ResformerSelfAttention2d(nn.Module):
    """Pre-norm multi-head self-attention over all positions of a `(batch, channels, height, width)` map."""

    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.attention = nn.MultiheadAttention(channels, num_heads, batch_first=True)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden_states.shape
        tokens = self.norm(hidden_states).flatten(2).transpose(1, 2)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return hidden_states + attended.transpose(1, 2).reshape(batch, channels, height, width)


class ResformerBasicBlock(nn.Module):
    """ResNet basic block (two 3×3 convolutions + shortcut), optionally followed by self-attention."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, attention_heads: int | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.attention = ResformerSelfAttention2d(out_channels, attention_heads) if attention_heads else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = hidden_states if self.shortcut is None else self.shortcut(hidden_states)
        hidden_states = F.relu(self.norm1(self.conv1(hidden_states)))
        hidden_states = F.relu(self.norm2(self.conv2(hidden_states)) + residual)
        return hidden_states if self.attention is None else self.attention(hidden_states)


class ResformerResNet(nn.Module):
    """Stride-2 stem, then the configured stages of [`ResformerBasicBlock`]s."""

    def __init__(self, config: ResformerConfig):
        super().__init__()
        first = config.resnet_hidden_sizes[0]
        self.stem = nn.Sequential(
            nn.Conv2d(config.num_channels, first, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(first),
            nn.ReLU(),
        )
        blocks, in_channels = [], first
        for stage, (channels, depth, stride) in enumerate(
            zip(config.resnet_hidden_sizes, config.resnet_depths, config.resnet_strides, strict=True)
        ):
            heads = config.resnet_attention_heads if stage in config.resnet_attention_stages else None
            for position in range(depth):
                blocks.append(ResformerBasicBlock(in_channels, channels, stride if position == 0 else 1, heads))
                in_channels = channels
        self.blocks = nn.Sequential(*blocks)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(pixel_values))


def _memory_padding(num_patches: int, ocr_attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Key padding mask (True = ignore) of the encoder's tokens: image patches, then OCR tokens."""
    if ocr_attention_mask is None:
        return None
    patches = ocr_attention_mask.new_zeros(ocr_attention_mask.shape[0], num_patches, dtype=torch.bool)
    return torch.cat([patches, ocr_attention_mask == 0], dim=1)


def _transformer_layers(layer_class: type[nn.Module], config: ResformerConfig, num_layers: int):
    """`num_layers` pre-norm GELU layers of `layer_class` (encoder or decoder layers), all of one size."""
    return nn.ModuleList(
        layer_class(
            config.d_model, config.num_attention_heads, config.ffn_dim, config.dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        for _ in range(num_layers)
    )


class ResformerOcrEmbedding(nn.Module):
    """OCR word tokens → `(batch_size, tokens, d_model)`: the mean of the token's hashed n-gram embeddings, plus
    its type, LayoutLM-style embeddings of its box (x0, y0, x1, y1, width, height on 0–1000) and, with
    `config.ocr_position_embeddings`, of its index in reading order."""

    def __init__(self, config: ResformerConfig):
        super().__init__()
        self.text = nn.EmbeddingBag(config.ocr_hash_buckets, config.d_model, mode="mean", padding_idx=0)
        self.token_type = nn.Embedding(4, config.d_model, padding_idx=0)
        self.x = nn.Embedding(1001, config.d_model)
        self.y = nn.Embedding(1001, config.d_model)
        self.width = nn.Embedding(1001, config.d_model)
        self.height = nn.Embedding(1001, config.d_model)
        self.position = (
            nn.Embedding(config.max_ocr_tokens, config.d_model) if config.ocr_position_embeddings else None
        )
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, input_ids: torch.Tensor, bbox: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        batch, tokens, ids = input_ids.shape
        text = self.text(input_ids.reshape(batch * tokens, ids)).reshape(batch, tokens, -1)
        bbox = bbox.clamp(0, 1000)
        x0, y0, x1, y1 = bbox.unbind(-1)
        boxes = self.x(x0) + self.y(y0) + self.x(x1) + self.y(y1) + self.width(x1 - x0) + self.height(y1 - y0)
        embeddings = text + boxes + self.token_type(token_types)
        if self.position is not None:
            if tokens > self.position.num_embeddings:
                raise ValueError(f"{tokens} OCR tokens given, more than `max_ocr_tokens` ({self.position.num_embeddings})")
            embeddings = embeddings + self.position(torch.arange(tokens, device=input_ids.device))
        return self.norm(embeddings)


class ResformerImageEncoder(nn.Module):
    """pixel_values + entity ids (+ OCR tokens) → encoded tokens `(batch_size, num_patches [+ ocr tokens],
    d_model)`."""

    main_input_name = "pixel_values"

    def __init__(self, config: ResformerConfig):
        super().__init__()
        self.config = config
        self.resnet = ResformerResNet(config)
        kernel = config.patch_size // config.feature_stride
        self.patch_embedding = nn.Conv2d(config.resnet_hidden_sizes[-1], config.d_model, kernel, stride=kernel)
        self.position_embedding = nn.Parameter(torch.empty(1, config.num_patches, config.d_model))
        self.entity_embedding = nn.Embedding(len(config.entity_units), config.d_model)
        self.ocr_embedding = ResformerOcrEmbedding(config) if config.use_ocr_tokens else None
        self.layers = _transformer_layers(nn.TransformerEncoderLayer, config, config.encoder_layers)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(
        self,
        pixel_values: torch.Tensor,
        entity_ids: torch.Tensor,
        ocr_input_ids: torch.Tensor | None = None,
        ocr_bbox: torch.Tensor | None = None,
        ocr_token_types: torch.Tensor | None = None,
        ocr_attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        expected = (self.config.num_channels, self.config.image_size, self.config.image_size)
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(f"`pixel_values` must have shape (batch_size, *{expected}), got {tuple(pixel_values.shape)}")
        if entity_ids is None:
            raise ValueError("the Resformer needs `entity_ids` (one entity type per image, see the processor)")
        num_entities = self.entity_embedding.num_embeddings
        if entity_ids.shape != pixel_values.shape[:1] or ((entity_ids < 0) | (entity_ids >= num_entities)).any():
            raise ValueError(
                f"`entity_ids` must hold one id in [0, {num_entities}) per image, got {entity_ids.tolist()} for "
                f"{pixel_values.shape[0]} images"
            )
        features = self.resnet(pixel_values.to(self.patch_embedding.weight.dtype))
        tokens = self.patch_embedding(features).flatten(2).transpose(1, 2)
        hidden_states = tokens + self.position_embedding
        padding = None
        if ocr_input_ids is not None:
            if self.ocr_embedding is None:
                raise ValueError("OCR tokens were given to a Resformer without `use_ocr_tokens`")
            ocr = self.ocr_embedding(ocr_input_ids, ocr_bbox, ocr_token_types).to(hidden_states.dtype)
            hidden_states = torch.cat([hidden_states, ocr], dim=1)
            padding = _memory_padding(tokens.shape[1], ocr_attention_mask)
        hidden_states = hidden_states + self.entity_embedding(entity_ids)[:, None]
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        for layer in self.layers:
            hidden_states = layer(hidden_states, src_key_padding_mask=padding)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        return BaseModelOutput(last_hidden_state=self.norm(hidden_states), hidden_states=all_hidden_states)


class ResformerDecoder(nn.Module):
    """Causal transformer decoder over the output tokens, cross-attending to the image tokens."""

    def __init__(self, config: ResformerConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.position_embedding = nn.Embedding(config.max_target_positions, config.d_model)
        self.layers = _transformer_layers(nn.TransformerDecoderLayer, config, config.decoder_layers)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(
        self, decoder_input_ids, encoder_hidden_states, decoder_attention_mask=None, memory_padding=None
    ) -> torch.Tensor:
        length = decoder_input_ids.shape[1]
        if length > self.position_embedding.num_embeddings:
            raise ValueError(
                f"decoder inputs of {length} tokens exceed `max_target_positions` "
                f"({self.position_embedding.num_embeddings})"
            )
        positions = torch.arange(length, device=decoder_input_ids.device)
        hidden_states = self.token_embedding(decoder_input_ids) + self.position_embedding(positions)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=hidden_states.device, dtype=hidden_states.dtype)
        padding = None if decoder_attention_mask is None else decoder_attention_mask == 0
        for layer in self.layers:
            hidden_states = layer(
                hidden_states, encoder_hidden_states, tgt_mask=causal, tgt_is_causal=True,
                tgt_key_padding_mask=padding, memory_key_padding_mask=memory_padding,
            )
        return self.norm(hidden_states)


class ResformerConstrainedLogitsProcessor(LogitsProcessor):
    r"""
    Lets a Resformer write only `"<number> <unit>"` with a unit allowed for the row's entity, or the empty
    prediction, so that every output passes the challenge's sanity check by construction.

    Numbers: a non-zero digit followed by digits, or a single `0` (no leading zeros such as `007`), then
    optionally a point and at least one digit (at most one point, no trailing point); at most
    `max_number_tokens` tokens. With `canonical_numbers`, numbers are written as
    `hf_pricer.data.entities.format_prediction` writes them, the form ground truths are compared in: the
    fractional part is required and has no trailing zero except in `.0` (`"2.0"`, `"2.5"`, not `"2"`,
    `"2.50"`). Then one unit token, then end-of-sequence. With `allow_empty`, the first token may be
    end-of-sequence (the empty prediction).

    Rows of `input_ids` are `batch_size × k` (beams or sampled sequences per input, as `generate` expands
    them); row `r` belongs to input `r // k`.

    Args:
        config ([`ResformerConfig`]): supplies the token ids, the units of each entity and the defaults.
        entity_ids (`torch.LongTensor` of shape `(batch_size,)`): entity id of each input.
        prompt_length (`int`, *optional*, defaults to 1): tokens before the output (the decoder start).
        allow_empty (`bool`, *optional*): defaults to `config.allow_empty_prediction`.
        canonical_numbers (`bool`, *optional*): defaults to `config.canonical_numbers`.
    """

    def __init__(
        self,
        config: ResformerConfig,
        entity_ids: torch.Tensor,
        prompt_length: int = 1,
        allow_empty: bool | None = None,
        canonical_numbers: bool | None = None,
    ):
        self.entity_ids = torch.as_tensor(entity_ids).reshape(-1).cpu()
        self.prompt_length = prompt_length
        self.allow_empty = config.allow_empty_prediction if allow_empty is None else allow_empty
        self.canonical = config.canonical_numbers if canonical_numbers is None else canonical_numbers
        self.max_number_tokens = config.max_number_tokens
        self.eos, self.pad, self.point = config.eos_token_id, config.pad_token_id, config.decimal_token_id
        self.digits = list(config.digit_token_ids)
        self.zero = self.digits[0]
        self.units = [config.unit_token_ids[name] for name in config.entity_names]
        self.all_units = {unit for units in self.units for unit in units}

    def allowed_tokens(self, tokens: list[int], entity_id: int) -> list[int]:
        """Token ids allowed after `tokens` (the output so far) for an input of entity `entity_id`."""
        if not tokens:
            return self.digits + ([self.eos] if self.allow_empty else [])
        last = tokens[-1]
        if last in (self.eos, self.pad):
            return [self.eos, self.pad]  # a finished row, which `generate` pads
        if last in self.all_units:
            return [self.eos]
        room = self.max_number_tokens - len(tokens)  # number tokens that may still be written
        units = self.units[entity_id]
        if self.point not in tokens:  # in the integer part
            allowed = []
            if tokens != [self.zero] and room >= (3 if self.canonical else 1):
                allowed += self.digits
            if room >= 2:
                allowed.append(self.point)
            if not self.canonical and tokens != [self.zero]:
                allowed += units
            return allowed
        fraction = tokens[tokens.index(self.point) + 1 :]
        complete = bool(fraction) and (not self.canonical or fraction[-1] != self.zero or fraction == [self.zero])
        allowed = list(units) if complete else []
        if room >= 2 or (room == 1 and (not self.canonical or not fraction)):
            allowed += self.digits
        elif room == 1:
            allowed += self.digits[1:]  # a last digit that ends the number canonically
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, batch = input_ids.shape[0], self.entity_ids.shape[0]
        if rows % batch:
            raise ValueError(f"{rows} sequences cannot be split evenly over {batch} entity ids")
        mask = torch.ones_like(scores, dtype=torch.bool)
        outputs = input_ids[:, self.prompt_length :].tolist()
        for row, tokens in enumerate(outputs):
            mask[row, self.allowed_tokens(tokens, int(self.entity_ids[row // (rows // batch)]))] = False
        return scores.masked_fill(mask, float("-inf"))


class ResformerPreTrainedModel(PipelineTaskMixin, PricerLossMixin, PreTrainedModel):
    """Initialises every layer with `init_standard_layers` and the image position embedding ~ N(0,
    `initializer_range`); the loss is the token cross-entropy over the non-padding label tokens."""

    config_class = ResformerConfig
    base_model_prefix = "resformer"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def num_loss_items(self, labels: torch.Tensor) -> int:
        return int((labels != IGNORE_INDEX).sum())

    def loss_sum(self, outputs: ResformerOutput, labels: torch.Tensor) -> torch.Tensor:
        logits = outputs.logits.float()
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.to(logits.device).reshape(-1),
            ignore_index=IGNORE_INDEX, reduction="sum",
        )

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if init_standard_layers(module, std):
            return
        if isinstance(module, ResformerImageEncoder):
            init.normal_(module.position_embedding, mean=0.0, std=std)


class ResformerForConditionalGeneration(ResformerPreTrainedModel, GenerationMixin):
    """The Resformer: product image + entity type → `"<value> <unit>"` tokens. See the module docstring."""

    card_task = "entity-value-extraction"  # the model card's task, see `hf_pricer.hub.CARD_TASKS`
    pipeline_task = "entity-value-extraction"  # see `hf_pricer.pipelines`

    def __init__(self, config: ResformerConfig):
        super().__init__(config)
        self.encoder = ResformerImageEncoder(config)
        self.decoder = ResformerDecoder(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.use_ocr_tokens:
            # A candidate's score sees its own encoded token, the next one (mostly its unit), the entity and the
            # decoder's first state; "none" sees the last two.
            self.pointer = nn.Sequential(
                nn.Linear(4 * config.d_model, config.d_model), nn.GELU(), nn.Linear(config.d_model, 1)
            )
            self.pointer_none = nn.Linear(2 * config.d_model, 1)
        self.post_init()
        self.generation_config.max_length = config.max_target_positions

    def get_encoder(self, modality: str | None = None):
        return self.encoder

    def get_input_embeddings(self):
        return self.decoder.token_embedding

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # no key/value cache (see the module docstring)

    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        entity_ids: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        labels: torch.LongTensor | None = None,
        ocr_input_ids: torch.LongTensor | None = None,
        ocr_bbox: torch.LongTensor | None = None,
        ocr_token_types: torch.LongTensor | None = None,
        ocr_attention_mask: torch.LongTensor | None = None,
        ocr_candidate_ids: torch.LongTensor | None = None,
        ocr_candidate_index: torch.LongTensor | None = None,
        ocr_candidate_mask: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ResformerOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
                Normalised images (see [`ResformerImageProcessor`]). Not needed when `encoder_outputs` is given.
            entity_ids (`torch.LongTensor` of shape `(batch_size,)`):
                Entity type of each image: its position in `config.entity_names` (sorted names).
            decoder_input_ids (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                Output tokens so far, starting with `config.decoder_start_token_id`. Built from `labels`
                (shifted right) when not given.
            decoder_attention_mask (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                0 at padding positions of `decoder_input_ids`.
            encoder_outputs ([`BaseModelOutput`], *optional*): the encoded image tokens, reused by `generate`.
            labels (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                Target tokens (ending with end-of-sequence), `-100` at padding positions.
            ocr_input_ids, ocr_bbox, ocr_token_types, ocr_attention_mask (*optional*, `use_ocr_tokens` only):
                The OCR's word tokens, `(batch_size, tokens, ocr_ids_per_token)` hashed n-gram ids, `(batch_size,
                tokens, 4)` boxes on 0–1000, `(batch_size, tokens)` types and mask (see [`ResformerProcessor`]).
            ocr_candidate_ids, ocr_candidate_index, ocr_candidate_mask (*optional*, `use_ocr_tokens` only):
                The OCR's numbers in canonical form: `(batch_size, candidates, max_number_tokens)` output tokens
                (padded with `pad_token_id`), the position of each among the OCR tokens, and its mask. Without
                them the model writes numbers with its decoder alone.
        """
        if encoder_outputs is None:
            if pixel_values is None:
                raise ValueError("pass `pixel_values` (and `entity_ids`) or `encoder_outputs`")
            encoder_outputs = self.encoder(
                pixel_values, entity_ids, ocr_input_ids, ocr_bbox, ocr_token_types, ocr_attention_mask
            )
        elif isinstance(encoder_outputs, tuple):
            encoder_outputs = BaseModelOutput(*encoder_outputs)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("pass `decoder_input_ids` or `labels`")
            decoder_input_ids = shift_tokens_right(
                labels, self.config.decoder_start_token_id, self.config.pad_token_id, IGNORE_INDEX
            )
        memory = encoder_outputs.last_hidden_state
        num_patches = self.config.num_patches
        memory_padding = None
        if memory.shape[1] > num_patches:
            if ocr_attention_mask is None:
                raise ValueError("pass `ocr_attention_mask` with the OCR tokens' encoder outputs")
            memory_padding = _memory_padding(num_patches, ocr_attention_mask)
        hidden_states = self.decoder(decoder_input_ids, memory, decoder_attention_mask, memory_padding)
        logits = self.lm_head(hidden_states)
        if ocr_candidate_ids is not None and memory.shape[1] > num_patches:
            if entity_ids is None:
                raise ValueError("the OCR candidates' pointer needs `entity_ids`")
            logits = self._pointer_logits(
                logits, hidden_states[:, 0], memory[:, num_patches:], decoder_input_ids,
                torch.as_tensor(entity_ids, device=logits.device).reshape(-1),
                ocr_candidate_ids, ocr_candidate_index, ocr_candidate_mask,
            )
        outputs = ResformerOutput(logits=logits, encoder_last_hidden_state=memory)
        outputs = self.add_loss(outputs, labels)
        return outputs if return_dict is not False else outputs.to_tuple()

    def _pointer_logits(
        self, lm_logits, start_state, ocr_states, decoder_input_ids, entity_ids, candidate_ids, candidate_index,
        candidate_mask,
    ) -> torch.Tensor:
        """Next-token log-probabilities of the mixture "copy one OCR candidate" / "none: the decoder alone" given
        each prefix of `decoder_input_ids` (see the module docstring), `(batch, length, vocab)`."""
        config = self.config
        _, length, vocab = lm_logits.shape
        lm_logits = lm_logits.float()
        log_lm = lm_logits.log_softmax(-1)
        # A candidate path: its digits, then a unit of the row's entity (the decoder's choice), then the end.
        # (built here rather than kept as a buffer: a non-persistent buffer does not survive loading on "meta")
        units = torch.zeros(len(config.entity_names), vocab, dtype=torch.bool, device=lm_logits.device)
        for entity_id, name in enumerate(config.entity_names):
            units[entity_id, config.unit_token_ids[name]] = True
        units = units[entity_ids][:, None, :]  # (batch, 1, vocab)
        log_unit = lm_logits.masked_fill(~units, float("-inf")).log_softmax(-1)

        # pointer: p(candidate j), p(none)
        context = torch.cat([self.encoder.entity_embedding(entity_ids), start_state], dim=-1)  # (batch, 2 d)
        following = torch.cat([ocr_states[:, 1:], torch.zeros_like(ocr_states[:, :1])], dim=1)
        features = torch.cat([ocr_states, following, context[:, None].expand(-1, ocr_states.shape[1], -1)], dim=-1)
        scores = self.pointer(features).squeeze(-1).float()  # (batch, ocr tokens)
        candidate_scores = scores.gather(1, candidate_index.clamp(0, scores.shape[1] - 1))
        candidate_scores = candidate_scores.masked_fill(candidate_mask == 0, float("-inf"))
        log_pointer = torch.cat([candidate_scores, self.pointer_none(context).float()], dim=1).log_softmax(-1)
        log_candidate, log_none = log_pointer[:, :-1], log_pointer[:, -1]

        # Each candidate's path token at every output position: digits, UNIT (-1), then end-of-sequence.
        number_length = (candidate_ids != config.pad_token_id).sum(-1, keepdim=True)  # (batch, C)
        positions = torch.arange(length, device=lm_logits.device)
        width = candidate_ids.shape[-1]
        digits = candidate_ids.gather(-1, positions.clamp(max=width - 1).expand(*candidate_ids.shape[:2], length))
        path = torch.where(positions < number_length, digits, torch.full_like(digits, config.eos_token_id))
        path = path.masked_fill(positions == number_length, -1)  # (batch, C, length)

        # Outputs written so far: output t is decoder input t + 1 (the last position's output is unknown).
        outputs = torch.cat([decoder_input_ids[:, 1:], decoder_input_ids[:, -1:]], dim=1)  # (batch, length)
        written = outputs[:, None, :].expand_as(path)
        unit_step = log_unit.gather(-1, outputs[..., None]).squeeze(-1)[:, None, :].expand_as(path)
        zero = torch.zeros((), device=lm_logits.device)
        step = torch.where(path == -1, unit_step, torch.where(path == written, zero, zero - float("inf")))
        # log-probability of the prefix before output t: an exclusive cumulative sum
        prefix = torch.cat([torch.zeros_like(step[..., :1]), step[..., :-1]], -1).cumsum(-1)
        lm_step = log_lm.gather(-1, outputs[..., None]).squeeze(-1)
        lm_prefix = torch.cat([torch.zeros_like(lm_step[:, :1]), lm_step[:, :-1]], -1).cumsum(-1)

        one_hot = F.one_hot(path.clamp(min=0), vocab).bool()
        candidate_next = torch.where(
            (path == -1)[..., None], log_unit[:, None], torch.where(one_hot, zero, zero - float("inf"))
        )  # (batch, C, length, vocab)
        terms = torch.cat(
            [
                (log_none[:, None] + lm_prefix)[:, None, :, None] + log_lm[:, None],
                (log_candidate[..., None] + prefix)[..., None] + candidate_next,
            ],
            dim=1,
        )
        log_probs = torch.logsumexp(terms, dim=1)
        return (log_probs - log_probs.logsumexp(-1, keepdim=True)).to(lm_logits.dtype)

    def prepare_inputs_for_generation(self, input_ids, next_sequence_length=None, past_key_values=None, **kwargs):
        # Without a cache the decoder re-reads the whole prefix at every step.
        return super().prepare_inputs_for_generation(input_ids, next_sequence_length=None, **kwargs)

    @torch.no_grad()
    def generate(
        self,
        pixel_values: torch.FloatTensor | None = None,
        entity_ids: torch.LongTensor | None = None,
        constrained_decoding: bool | None = None,
        logits_processor: LogitsProcessorList | None = None,
        **kwargs,
    ):
        r"""
        [`GenerationMixin.generate`] with the image inputs, and unit-constrained decoding on by default.

        Args:
            pixel_values, entity_ids: as in `forward`; `entity_ids` are required.
            constrained_decoding (`bool`, *optional*): defaults to `config.constrained_decoding`; adds a
                [`ResformerConstrainedLogitsProcessor`] for `entity_ids`.
            kwargs: any `generate` argument (`num_beams`, `do_sample`, `max_new_tokens`, `generation_config`...).
        """
        if entity_ids is None:
            raise ValueError("`generate` needs `entity_ids`: the entity type to read for each image")
        entity_ids = torch.as_tensor(entity_ids, device=self.device).reshape(-1)
        if constrained_decoding is None:
            constrained_decoding = self.config.constrained_decoding
        logits_processor = LogitsProcessorList(logits_processor or [])
        if constrained_decoding:
            logits_processor.append(ResformerConstrainedLogitsProcessor(self.config, entity_ids))
        return super().generate(pixel_values, entity_ids=entity_ids, logits_processor=logits_processor, **kwargs)


__all__ = [
    "ResformerConstrainedLogitsProcessor",
    "ResformerForConditionalGeneration",
    "ResformerOutput",
    "ResformerPreTrainedModel",
]
