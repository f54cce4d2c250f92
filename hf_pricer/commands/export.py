"""`hf-pricer export`: a saved model (folder or Hub repository) → an ONNX folder that ONNX Runtime serves.

    hf-pricer export outputs/residual-catalog --format onnx --output outputs/residual-onnx
    hf-pricer export outputs/dual-catalog --format onnx --quantize int8 --output outputs/dual-onnx-int8

The folder holds `model.onnx`, the config (the model's own kept inside it) and the processor;
`pipeline("price-regression", model=folder)` serves it (see `hf_pricer.exporters.onnx`). Needs the `onnx` extra.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)


def main(args: Sequence[str] | None = None):
    parser = argparse.ArgumentParser(prog="hf-pricer export", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", metavar="PATH_OR_REPO", help="A saved model's folder or Hub repository id.")
    parser.add_argument("--format", default="onnx", choices=FORMATS, help="Export format.")
    parser.add_argument("--quantize", default=None, choices=QUANTIZATIONS,
                        help="int8: ONNX Runtime dynamic quantization (int8 weights); default fp32.")
    parser.add_argument("--output", required=True, metavar="DIR", help="The folder to write.")
    parser.add_argument("--revision", default=None, help="Hub revision of PATH_OR_REPO.")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: hf_pricer's, 18).")
    parsed = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        parser.exit(1, f"hf-pricer export: {error.name} is missing: pip install 'hf_pricer[onnx]'\n")

    import hf_pricer  # noqa: F401 -- registers the models with the Auto classes
    from hf_pricer.exporters.onnx import OPSET_VERSION, export_onnx

    hub_kwargs = {"revision": parsed.revision} if parsed.revision else {}
    try:
        report = export_onnx(parsed.model, parsed.output, quantize=parsed.quantize,
                             opset_version=parsed.opset or OPSET_VERSION, **hub_kwargs)
    except (OSError, ValueError) as error:
        parser.exit(1, f"hf-pricer export: {parsed.model}: {error}\n")
    print(f"wrote {report.output_dir} ({report.quantization or 'fp32'}; inputs {', '.join(report.input_names)}; "
          f"largest relative difference to the model {report.max_relative_difference:.1e})")
    return report
