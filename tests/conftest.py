"""Test-session setup.

The Hugging Face libraries read ``HF_ENDPOINT``/``HF_HOME`` once, at import time, so they are
pointed here at a Hub-protocol server on 127.0.0.1 (``tests/hub_server.py``) and a throw-away
cache *before* anything imports them. No test reaches the network.
"""

import os
import sys
import tempfile

# The test models are tiny: one thread per process beats several that wait for each other on a busy machine
# (the dual-encoder model tests took 136 s with 2 threads and 27 s with one, with other jobs running). Set
# before numpy and torch are imported, which read it once.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.utils import RECIPES_DIR, free_port  # noqa: E402

HUB_PORT = free_port()
HUB_ENDPOINT = f"http://127.0.0.1:{HUB_PORT}"
_HF_HOME = tempfile.mkdtemp(prefix="hf_pricer_tests_home_")

os.environ["HF_ENDPOINT"] = HUB_ENDPOINT
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_TOKEN"] = "hf_test_token"
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

# The recipes are scripts, not a package; tests import them as modules.
sys.path.insert(0, RECIPES_DIR)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def hub_server():
    """A running Hub-protocol server; ``HF_ENDPOINT`` already points at it."""
    from tests.hub_server import HubServer

    server = HubServer(port=HUB_PORT, storage_dir=tempfile.mkdtemp(prefix="hf_pricer_hub_"))
    server.start()
    yield server
    server.stop()
