"""Tokenizer of the Resformer's output language: a number written digit by digit, then one unit token.

`"12.5 centimetre"` → `["1", "2", ".", "5", "centimetre", "</s>"]`. Units are whole tokens (`"fluid ounce"`
is one token), so a decoded unit is always one of the vocabulary's, and the empty prediction is the
sequence `["</s>"]`. Each entity type also has a token (`"<item_weight>"`) and an id in the model's
entity-type embedding (its position among the sorted entity names).

The vocabulary is derived from `entity_units` alone (specials, digits, `"."`, units, entity tokens, in
that order), so a tokenizer and a [`ResformerConfig`] built from the same mapping agree on every id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from transformers import PreTrainedTokenizer

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)
DIGITS = tuple("0123456789")
DECIMAL_POINT = "."


def canonical_entity_units(entity_units: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """`entity_units` (default: the challenge's `ENTITY_UNIT_MAP`) with entities and units sorted.

    Ids are positions in this order, so they survive JSON files that sort their keys."""
    if entity_units is None:
        from hf_pricer.data.entities import ENTITY_UNIT_MAP

        entity_units = ENTITY_UNIT_MAP
    return {name: sorted(entity_units[name]) for name in sorted(entity_units)}


def entity_token(entity_name: str) -> str:
    return f"<{entity_name}>"


def build_vocab(entity_units: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Token → id for `entity_units` (entity name → allowed units)."""
    units = list(dict.fromkeys(unit for allowed in entity_units.values() for unit in allowed))
    tokens = [*SPECIAL_TOKENS, *DIGITS, DECIMAL_POINT, *units, *map(entity_token, entity_units)]
    return {token: index for index, token in enumerate(tokens)}


def grammar_token_ids(entity_units: Mapping[str, Sequence[str]]) -> dict:
    """The token ids [`ResformerConfig`] and the constrained decoding need, derived from `entity_units`."""
    vocab = build_vocab(entity_units)
    return {
        "vocab_size": len(vocab),
        "pad_token_id": vocab[PAD_TOKEN],
        "bos_token_id": vocab[BOS_TOKEN],
        "eos_token_id": vocab[EOS_TOKEN],
        "decoder_start_token_id": vocab[BOS_TOKEN],
        "digit_token_ids": [vocab[digit] for digit in DIGITS],
        "decimal_token_id": vocab[DECIMAL_POINT],
        "unit_token_ids": {name: [vocab[unit] for unit in units] for name, units in entity_units.items()},
    }


def shift_tokens_right(labels, decoder_start_token_id: int, pad_token_id: int, ignore_index: int = -100):
    """Decoder inputs for `labels` `(batch_size, length)`: the start token, then the labels without their
    last token, with `ignore_index` padding turned into `pad_token_id`."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 0] = decoder_start_token_id
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == ignore_index, pad_token_id)


class ResformerTokenizer(PreTrainedTokenizer):
    r"""
    Tokenizer of entity-value predictions (`"<number> <unit>"` or `""`), see the module docstring.

    Args:
        entity_units (`dict[str, list[str]]`, *optional*):
            Allowed units per entity name. Defaults to the challenge's (`ENTITY_UNIT_MAP`). Saved in
            `tokenizer_config.json`; the vocabulary is built from it, entities and units in sorted order.
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, entity_units: Mapping[str, Sequence[str]] | None = None, **kwargs):
        self.entity_units = canonical_entity_units(entity_units)
        self.vocab = build_vocab(self.entity_units)
        self.ids_to_tokens = {index: token for token, index in self.vocab.items()}
        units = sorted({unit for allowed in self.entity_units.values() for unit in allowed}, key=len, reverse=True)
        # Longest unit first, so that "fluid ounce" wins over "ounce"; a unit ends at a word boundary. Any
        # other run of characters is one (unknown) token.
        words = [re.escape(token) for token in (*units, *map(entity_token, self.entity_units))]
        self._pattern = re.compile(r"(?:" + "|".join(words) + r")(?![a-z])|\d|\.|[^\s\d.]+")
        for key, token in zip(("pad_token", "bos_token", "eos_token", "unk_token"), SPECIAL_TOKENS):
            kwargs.setdefault(key, token)
        kwargs.setdefault("special_tokens_pattern", "eos")
        super().__init__(entity_units=self.entity_units, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def entity_names(self) -> list[str]:
        """Entity names in the order of their ids (the model's entity-type embedding rows)."""
        return list(self.entity_units)

    def entity_id(self, entity_name: str) -> int:
        """The entity-type id of `entity_name`; an unknown name is an error that lists the known ones."""
        try:
            return self.entity_names.index(entity_name)
        except ValueError:
            raise ValueError(f"unknown entity_name {entity_name!r}; expected one of {self.entity_names}") from None

    def grammar_token_ids(self) -> dict:
        """Token ids for [`ResformerConfig`] (`ResformerConfig(**tokenizer.grammar_token_ids(), ...)`)."""
        return grammar_token_ids(self.entity_units)

    def get_vocab(self) -> dict[str, int]:
        return {**self.vocab, **self.added_tokens_encoder}

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self._pattern.findall(text)

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab[UNK_TOKEN])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, UNK_TOKEN)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        # Digits and the decimal point are glued together; any other token is a separate word.
        text = ""
        for token in tokens:
            glued = (token in DIGITS or token == DECIMAL_POINT) and (not text or text[-1] in DIGITS + (".",))
            text += token if glued or not text else " " + token
        return text

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        # The vocabulary is rebuilt from `entity_units`, which `tokenizer_config.json` stores.
        return ()


__all__ = ["ResformerTokenizer"]
