"""Every metric hf_pricer computes: prices, entity values, retrieval, classification and multi-target MAE."""

from hf_pricer._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    names={
        ".price": ["EVALUATE_METRIC_PATH", "compute_metrics", "interval_metrics", "price_metrics", "smape"],
        ".entity": ["EntityValueMetrics", "entity_f1"],
        ".retrieval": ["alignment_report", "compute_retrieval_metrics", "distance_report", "retrieval_metrics"],
        ".classification": ["classification_metrics"],
        ".regression": ["regression_metrics"],
    },
)
