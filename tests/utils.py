"""Small helpers shared by the tests."""

import csv
import os
import socket
import subprocess
import sys

import numpy as np
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES_DIR = os.path.join(REPO_ROOT, "recipes")
CONFIGS_DIR = os.path.join(RECIPES_DIR, "configs")
# the real data sets next to the checkout where a machine has them (HF_PRICER_SHARED_DATA points elsewhere)
SHARED_DATA = os.environ.get("HF_PRICER_SHARED_DATA", os.path.join(REPO_ROOT, "..", "shared", "data"))
GROCERY = os.path.join(SHARED_DATA, "grocery")
APPLIANCES = os.path.join(SHARED_DATA, "items", "appliances_2000.jsonl")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_recipe(recipe: str, args: list[str], num_processes: int = 1) -> str:
    """Run `recipes/<recipe>.py` under `accelerate launch` on the CPU (several processes talk over gloo);
    checks that it succeeds and returns its output."""
    if num_processes == 1:
        launcher = ["--num_processes", "1", "--cpu"]
    else:
        launcher = ["--multi_gpu", "--num_processes", str(num_processes)]
        launcher += ["--main_process_port", str(free_port())]
    script = os.path.join(RECIPES_DIR, f"{recipe}.py")
    command = [sys.executable, "-m", "accelerate.commands.launch", *launcher, script, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the processes share the machine's cores
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=900,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def write_csv(path, header, rows):
    """A CSV file with a header row; returns its path."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_images(folder, count: int, size: tuple[int, int] = (40, 40), seed: int = 1) -> list[str]:
    """`count` random-noise PNG files in `folder`; returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = os.path.join(folder, f"image{index}.png")
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def is_png(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == PNG_SIGNATURE
