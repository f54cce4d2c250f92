"""Data: the item schema and its loaders (Hub, local files, the synthetic catalog), images, entity values and
the challenge CSVs, OCR and the OCR-and-rules baseline, labelled image records, the embedding aligner's files and the text/image embedders.
Names other than the entity values' are imported when first used."""

from hf_pricer._lazy import attach

# The entity values load with the package: they import nothing heavy, and the Resformer needs them anyway.
from .entities import *
from .entities import __all__ as _entity_names

__getattr__, __dir__, _lazy_names = attach(
    __name__,
    names={
        ".schema": ["ITEM_COLUMNS", "SkipReport", "normalize_item", "parse_price"],
        ".loading": [
            "clean_items",
            "item_splits",
            "load_items",
            "load_local_items",
            "log_price_statistics",
            "split_by_id",
        ],
        ".files": ["DataFileError"],
        ".catalog": ["generate_catalog"],
        ".splits": ["hold_out", "train_validation_test"],
        ".images": ["DecodeBudget", "ImageReport", "check_image", "load_image"],
        ".challenge": [
            "DownloadReport",
            "FetchOptions",
            "challenge_dataset",
            "download_images",
            "load_challenge_dataset",
            "read_challenge_csv",
        ],
        ".grocery": [
            "grocery_classes",
            "grocery_package_labels",
            "grocery_package_rows",
            "parse_grocery_information",
            "parse_package_size",
        ],
        ".label_images": ["generate_label_images", "generate_photographed_labels", "load_attribute_values"],
        ".ocr": ["OcrReport", "OcrWord", "RapidOcrEngine", "ocr_token_features", "ocr_words", "simulate_ocr"],
        ".ocr_rules": ["extract_entity_value", "ocr_candidates"],
        ".records": [
            "keep_known_labels",
            "label_vocabulary",
            "load_records",
            "load_train_val",
            "target_statistics",
            "write_catalog_json",
        ],
        ".alignment": ["AlignmentData", "load_alignment_npz", "read_submission", "write_submission"],
        ".embedders": ["ImageEmbedder", "TextEmbedder"],
    },
)
__all__ = sorted([*_entity_names, *_lazy_names])
