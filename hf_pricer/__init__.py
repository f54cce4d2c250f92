"""hf_pricer: multimodal product-price and product-attribute models for the Hugging Face ecosystem.

`import hf_pricer` registers every model with the 🤗 Auto classes (`AutoConfig`, `AutoModel`,
`AutoModelForImageTextToText`, `AutoModelForImageClassification`, `AutoTokenizer`, `AutoFeatureExtractor`,
`AutoImageProcessor`, `AutoProcessor`), so `AutoModel.from_pretrained(...)` loads hf_pricer checkpoints.
Everything else (the Trainer, data loading, metrics, the Hub helpers) is imported when first used.
"""

from ._lazy import attach
from .models import *  # noqa: F403 -- registers every model with the Auto classes
from .models import __all__ as _model_names

__version__ = "0.2.0.dev0"

__getattr__, __dir__, _lazy_names = attach(
    __name__,
    names={
        ".trainer": [
            "FreezeWarmupCallback",
            "PricerSeq2SeqTrainer",
            "PricerSeq2SeqTrainingArguments",
            "PricerTrainer",
            "PricerTrainingArguments",
            "module_parameter_groups",
        ],
        ".modeling_utils": [
            "PriceModelMixin",
            "PriceRegressionOutput",
            "PricerLossMixin",
            "TabularEmbedding",
            "calibrate_interval_margin",
            "pinball_loss",
            "price_loss",
        ],
        ".feature_extraction_utils": ["TabularFeatures", "TfidfText"],
        ".ensemble": [
            "EnsembleData",
            "GradientBoostingTrainer",
            "LinearTrainer",
            "PriceModelTrainer",
            "evaluate_price_ensemble",
            "fit_price_ensemble",
        ],
        ".image_processing_utils": ["ProductImageProcessor"],
        ".metrics": [
            "EVALUATE_METRIC_PATH",
            "EntityValueMetrics",
            "compute_metrics",
            "entity_f1",
            "interval_metrics",
            "price_metrics",
            "smape",
        ],
        ".data": [
            "AlignmentData",
            "SkipReport",
            "clean_items",
            "generate_catalog",
            "item_splits",
            "load_alignment_npz",
            "load_items",
            "log_price_statistics",
            "read_submission",
            "write_submission",
        ],
    },
    submodules=[
        ".cli", ".commands", ".data", ".ensemble", ".exporters", ".hpo", ".hub", ".metrics", ".performance",
        ".plots", ".pretrained", ".stacking",
    ],
    renamed={
        "ResidualRegressorForPrice": "ResidualRegressorForPriceRegression",
        "ResformerMetrics": "EntityValueMetrics",
    },
)
__all__ = sorted([*_model_names, *_lazy_names])
