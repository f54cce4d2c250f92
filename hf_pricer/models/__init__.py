"""hf_pricer's models, one folder each. Importing a folder registers its model with the Auto classes; this
package imports them all, so `import hf_pricer` registers every model. A new model is a new folder plus
one line here."""

import importlib

MODEL_FOLDERS = (
    "residual_regressor",
    "dual_encoder",
    "resformer",
    "embedding_classifier",
    "dual_embedding",
    "embedding_aligner",
    "price_ensemble",
    "onnx_runtime",
)

__all__ = []
for _folder in MODEL_FOLDERS:
    _module = importlib.import_module(f".{_folder}", __name__)
    globals().update({name: getattr(_module, name) for name in _module.__all__})
    __all__ += _module.__all__
