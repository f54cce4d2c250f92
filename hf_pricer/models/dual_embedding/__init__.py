from .configuration_dual_embedding import DualEmbeddingConfig, EmbeddingClassifierConfig
from .data_dual_embedding import (
    grocery_records,
    keep_known_labels,
    label_vocabulary,
    load_records,
    save_json,
    to_serializable,
    write_catalog_json,
)
from .modeling_dual_embedding import (
    DualEmbeddingForRegression,
    DualEmbeddingPreTrainedModel,
    DualEmbeddingRegressionOutput,
    EmbeddingClassifierForImageClassification,
    EmbeddingClassifierModel,
    EmbeddingClassifierOutput,
)
from .processing_dual_embedding import DualEmbeddingCollator, EmbeddingClassifierCollator, vit_image_processor
from .training_dual_embedding import (
    DualEmbeddingSearchSpace,
    classification_metrics,
    dual_embedding_model_init,
    encoder_learning_rates,
    regression_metrics,
    search_hyperparameters,
    target_statistics,
    write_results_table,
)

__all__ = [
    "DualEmbeddingCollator",
    "DualEmbeddingConfig",
    "DualEmbeddingForRegression",
    "DualEmbeddingPreTrainedModel",
    "DualEmbeddingRegressionOutput",
    "DualEmbeddingSearchSpace",
    "EmbeddingClassifierCollator",
    "EmbeddingClassifierConfig",
    "EmbeddingClassifierForImageClassification",
    "EmbeddingClassifierModel",
    "EmbeddingClassifierOutput",
    "classification_metrics",
    "dual_embedding_model_init",
    "encoder_learning_rates",
    "grocery_records",
    "keep_known_labels",
    "label_vocabulary",
    "load_records",
    "regression_metrics",
    "save_json",
    "search_hyperparameters",
    "target_statistics",
    "to_serializable",
    "vit_image_processor",
    "write_catalog_json",
    "write_results_table",
]
