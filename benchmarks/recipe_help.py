"""Time of each recipe's `--help`, and its length: the answer comes before torch is imported.

    python benchmarks/recipe_help.py

Each `python recipes/<name>.py --help` runs in a fresh process, `--repeats` times after one untimed warm-up (which
fills the OS file cache); the verdict is the median against the target of 3 s, and the length against 80 lines.
Records the share of the other CPUs that other processes used meanwhile. Writes
benchmarks/results/recipe_help.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from import_time import RESULTS_DIR, REPO_ROOT, busy_seconds  # noqa: E402

RECIPES = ("train_price", "train_dual", "train_residual", "train_resformer", "train_classifier", "train_dual_embedding",
           "train_aligner")
TARGET_SECONDS, TARGET_LINES = 3.0, 80


def timed_help(recipe: str) -> tuple[float, int, float]:
    """(wall seconds, lines printed, share of the other CPUs busy meanwhile)."""
    busy, began = busy_seconds(), time.perf_counter()
    result = subprocess.run([sys.executable, os.path.join("recipes", f"{recipe}.py"), "--help"], check=True,
                            capture_output=True, text=True, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    foreign = max(0.0, (busy_seconds() - busy) - wall) / (wall * max((os.cpu_count() or 1) - 1, 1))
    return wall, len(result.stdout.splitlines()), min(foreign, 1.0)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows, foreign = {}, []
    for recipe in RECIPES:
        timed_help(recipe)  # warm-up
        runs = [timed_help(recipe) for _ in range(args.repeats)]
        foreign += [share for _, _, share in runs]
        rows[recipe] = {"seconds": [wall for wall, _, _ in runs], "lines": runs[0][1],
                        "median_seconds": statistics.median(wall for wall, _, _ in runs)}
    results = {
        "command": " ".join(["python", "benchmarks/recipe_help.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "recipes": rows,
        "foreign_cpu_share_median": statistics.median(foreign),
    }
    lines = [
        "# Recipe `--help`: time and length",
        "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}; Python {results['python']}, {results['cpu_count']} CPUs. Each `--help` in a fresh "
        f"process, {args.repeats} timed runs after one warm-up. Other processes used a median "
        f"{100 * results['foreign_cpu_share_median']:.0f}% of the remaining CPUs meanwhile.",
        "",
        "| recipe | runs (s) | median (s) | lines |",
        "|---|---|---:|---:|",
    ]
    for recipe, row in rows.items():
        runs = ", ".join(f"{value:.2f}" for value in row["seconds"])
        lines.append(f"| `recipes/{recipe}.py` | {runs} | {row['median_seconds']:.2f} | {row['lines']} |")
    slowest = max(row["median_seconds"] for row in rows.values())
    longest = max(row["lines"] for row in rows.values())
    lines += [
        "",
        f"**Slowest median {slowest:.2f} s** (target < {TARGET_SECONDS:g} s: "
        f"{'met' if slowest < TARGET_SECONDS else 'NOT met'}); **longest {longest} lines** (target ≤ {TARGET_LINES}: "
        f"{'met' if longest <= TARGET_LINES else 'NOT met'}).",
        "",
    ]
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "recipe_help.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    with open(os.path.join(RESULTS_DIR, "recipe_help.md"), "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()
