"""The `hf-pricer` command line: `hf-pricer COMMAND [ARGS]`; `hf-pricer COMMAND --help` describes each.

A command's module is imported only when it runs, so `hf-pricer --help` and the light commands start fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# command → (module under hf_pricer.commands, one-line description)
COMMANDS = {
    "sanity": ("sanity", "check an entity-value predictions CSV as the Amazon ML Challenge 2024 checker does"),
    "embed": ("embed", "write the embedding aligner's .npz files from captions and images"),
    "evaluate-alignment": ("evaluate_alignment", "retrieval metrics and figures of a trained embedding aligner"),
    "demo": ("demo", "a web page (Gradio) to try a saved price model or Resformer; --space writes a Hub Space"),
    "generate-items": ("generate_items", "an items_full-shaped data set (400,000 rows, Parquet/JSON Lines) from the catalog"),
    "export": ("export", "a saved model → an ONNX folder (optionally int8) that pipeline() serves in ONNX Runtime"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {description}" for name, (_, description) in COMMANDS.items()]
    return "usage: hf-pricer COMMAND [ARGS]\n\ncommands:\n" + "\n".join(lines) + "\n\n`hf-pricer COMMAND --help` for its arguments."


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, *rest = argv
    if command not in COMMANDS:
        print(f"hf-pricer: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"hf_pricer.commands.{COMMANDS[command][0]}")
    result = module.main(rest)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
