"""Exporting hf_pricer models for deployment: `export_onnx` (ONNX, optionally int8) and the `hf-pricer export`
command. An exported folder loads with `AutoModel`/`pipeline()` as the model did, and runs in ONNX Runtime
(`hf_pricer.models.onnx_runtime`)."""

from .onnx import ExportReport, export_onnx

__all__ = ["ExportReport", "export_onnx"]
