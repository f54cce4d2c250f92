"""Entity values from OCR text by rules: the OCR-and-rules baseline of label reading.

OCR lines (see :mod:`hf_pricer.data.ocr`) → every `number unit` span → :func:`~hf_pricer.data.entities.parse_entity_value`
with the asked entity (its unit map and entity-specific units: an `oz` of an `item_volume` is a fluid ounce, `V` is
only a voltage) after fixing frequent OCR confusions inside units (`Ib` → `lb`, `4140z` → `414 oz`) → one
candidate is chosen → the canonical challenge string (`format_prediction`), or `""` when none parses.

Two rule sets choose the candidate:

- `"units"`: the first span, in reading order, whose unit the entity allows. This is what a unit map and
  entity-specific rules can do without knowing the label's wording.
- `"keywords"`: spans scored by cue words before the number (`net wt`, `contents`, `output`, `power`, `width`, a
  lone `W`/`H`/`D`, matched without spaces because OCR engines drop most of them) and penalised on distractor
  lines (serving size, per 100 g, standby, input, nutrients, mAh, Wh); ties go to the taller print; only
  distractors left → `""`. Its word lists are those of the labels :mod:`hf_pricer.data.label_images` prints, so
  on those labels it is an optimistic reference rather than a fair real-world rule set.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from .entities import EntityValueError, ParsedEntityValue, parse_entity_value

__all__ = ["OcrCandidate", "extract_entity_value", "ocr_candidates"]

# a number not preceded by digits, an optional space, then a unit of one or two words (letters, µ, quotes)
_SPAN = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)?)\s?([A-Za-zµμ\"']+(?:\.?\s?[A-Za-z]+)?)")
# OCR confusions inside unit words, read as what was printed
_UNIT_FIXES = {
    "ib": "lb", "ibs": "lbs", "1b": "lb", "mi": "ml", "m1": "ml", "0z": "oz", "b": "lb", "cuft": "cu ft",
    "cuin": "cu in", "impgal": "imp gal", "flo2": "fl oz", "fl0z": "fl oz",
}  # fmt: skip
_CUES = {  # words before an answer, per entity, lower case without spaces
    "item_weight": ("netwt", "netweight", "netto", "netmass", "weight", "n.w", "wt", "mass"),
    "maximum_weight_recommendation": ("maxload", "max.load", "loadcapacity", "maxweight", "max"),
    "item_volume": ("netvol", "contents", "content", "capacity", "tank", "vol", "reservoir"),
    "voltage": ("output", "out", "voltage", "nominal", "rated", "vout"),
    "wattage": ("power", "ratedpower", "wattage", "max"),
    "width": ("width", "wide"),
    "height": ("height", "tall"),
    "depth": ("depth", "deep"),
}
_LETTER_CUES = {"width": "w", "height": "h", "depth": "d"}  # a lone letter right before the number
# distractor lines, by a word stem (robust to OCR typos at the end of the word)
_DISTRACTORS = (
    "serv", "per1", "per5", "per3", "perg", "porti", "stand", "no-lo", "nolo", "idle", "inpu", "npu", "prot", "fat",
    "suga", "carb", "fibr", "salt", "satur", "sodi", "ener", "glas", "cup", "typi", "nutr", "value", "mah", "wh",
)  # fmt: skip


class OcrCandidate(NamedTuple):
    """A `number unit` span of OCR text that parses as a value of the asked entity."""

    value: ParsedEntityValue
    line: int  # index of its OCR line
    start: int  # character offset of the number in the line
    height: float  # the line's height, 0–1000 of the image
    before: str  # the line's text before the number, lower case
    line_text: str  # the line's text, lower case


def ocr_candidates(lines: list[dict], entity_name: str) -> list[OcrCandidate]:
    """Every span of OCR `lines` that reads as a value of `entity_name`, in reading order."""
    out = []
    for index, line in enumerate(lines):
        text = line["text"]
        for match in _SPAN.finditer(text):
            number, unit = match.group(1), match.group(2)
            if unit[:1].lower() == "z" and number.endswith("0") and len(number) > 1:  # "4140z": "414 0z" = 414 oz
                number, unit = number[:-1], "oz" + unit[1:]
            for option in (unit, unit.split()[0] if " " in unit else None):
                if option is None:
                    continue
                try:
                    parsed = parse_entity_value(f"{number} {_UNIT_FIXES.get(option.lower(), option)}", entity_name)
                except EntityValueError:
                    continue
                ys = [point[1] for point in line["quad"]]
                out.append(OcrCandidate(parsed, index, match.start(), max(ys) - min(ys),
                                        text[: match.start()].lower(), text.lower()))
                break
    return out


def _keyword_score(candidate: OcrCandidate, entity_name: str) -> tuple[float, float, int]:
    before = re.sub(r"[\s:]", "", candidate.before)
    line = re.sub(r"\s", "", candidate.line_text)
    score = 0.0
    if any(cue in before for cue in _CUES[entity_name]):
        score += 2
    letter = _LETTER_CUES.get(entity_name)
    if letter and re.fullmatch(rf"{letter}\W*", before):
        score += 2
    if any(stem in line for stem in _DISTRACTORS):
        score -= 2
    return score, candidate.height, -candidate.line


def extract_entity_value(
    lines: list[dict], entity_name: str, rules: Literal["units", "keywords"] = "units"
) -> str:
    """The canonical value of `entity_name` that OCR `lines` show, or `""` (see the module docstring)."""
    if rules not in ("units", "keywords"):
        raise ValueError(f"rules must be 'units' or 'keywords', got {rules!r}")
    candidates = ocr_candidates(lines, entity_name)
    if not candidates:
        return ""
    if rules == "units":
        return str(candidates[0].value)
    best = max(candidates, key=lambda candidate: _keyword_score(candidate, entity_name))
    return "" if _keyword_score(best, entity_name)[0] < 0 else str(best.value)
