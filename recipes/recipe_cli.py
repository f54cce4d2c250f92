"""Makes `hf_pricer.cli` importable without importing the rest of hf_pricer, so that a recipe answers `--help` and
argument errors at once, before torch and transformers are imported (`import hf_pricer` registers every model
and takes seconds). Every recipe imports this module first:

    import recipe_cli  # noqa: F401 -- before any hf_pricer import
    from hf_pricer.cli import ConfigFlags, parse_recipe_args

`hf_pricer/cli.py` imports only the standard library and yaml; it is loaded from its file and registered as
`hf_pricer.cli`, which a later `import hf_pricer` finds and keeps.
"""

import importlib.util
import os
import sys

if "hf_pricer.cli" not in sys.modules:
    _package = importlib.util.find_spec("hf_pricer")  # locates the package without running its __init__
    if _package is None:
        raise ImportError('hf_pricer is not installed: python -m pip install -e ".[recipes]"')
    _spec = importlib.util.spec_from_file_location(
        "hf_pricer.cli", os.path.join(_package.submodule_search_locations[0], "cli.py")
    )
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["hf_pricer.cli"] = _module
    _spec.loader.exec_module(_module)
