"""Import time of `import hf_pricer` against the floor of a package that registers models on import.

    python benchmarks/import_time.py

Each statement runs in a fresh `python -c` process, alternating between the two so that load on the machine
hits both alike: `--repeats` timed runs each after one untimed warm-up (which fills the OS file cache). The
verdict is the ratio of the medians (target: at most 1.3). It also lists which heavy libraries the import
pulled in, and the share of the CPUs other processes used meanwhile. Writes
benchmarks/results/import_time.{json,md}.
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

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO_ROOT, "benchmarks", "results")
STATEMENTS = {
    "floor": "from transformers import PreTrainedModel, AutoModel, AutoConfig",
    "hf_pricer": "import hf_pricer",
}
HEAVY = ("timm", "datasets", "sklearn", "pandas", "matplotlib", "optuna", "gradio", "onnxruntime", "lightgbm")
TARGET_RATIO = 1.3


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def timed_run(statement: str) -> tuple[float, float]:
    """(wall seconds of the process, share of the other CPUs busy meanwhile)."""
    busy, began = busy_seconds(), time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    # The child keeps about one CPU busy; what is left over on the others is someone else's.
    foreign = max(0.0, (busy_seconds() - busy) - wall) / (wall * max((os.cpu_count() or 1) - 1, 1))
    return wall, min(foreign, 1.0)


def loaded_heavy_modules() -> list[str]:
    probe = f"import sys, hf_pricer; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    return output.stdout.split()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="import_time")
    args = parser.parse_args(argv)

    times = {name: [] for name in STATEMENTS}
    foreign = []
    for name, statement in STATEMENTS.items():
        timed_run(statement)  # warm-up
    for _ in range(args.repeats):
        for name, statement in STATEMENTS.items():
            wall, share = timed_run(statement)
            times[name].append(wall)
            foreign.append(share)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["hf_pricer"] / medians["floor"]
    results = {
        "command": " ".join(["python", "benchmarks/import_time.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "statements": STATEMENTS,
        "seconds": times,
        "median_seconds": medians,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "heavy_modules_loaded_by_import_hf_pricer": loaded_heavy_modules(),
        "foreign_cpu_share_median": statistics.median(foreign),
    }
    lines = [
        "# Import time of `import hf_pricer`",
        "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}; Python {results['python']}, {results['cpu_count']} CPUs. Each statement in a fresh "
        f"process, {args.repeats} timed runs each, alternating, after one warm-up. Other processes used a median "
        f"{100 * results['foreign_cpu_share_median']:.0f}% of the remaining CPUs meanwhile.",
        "",
        "| statement | runs (s) | median (s) |",
        "|---|---|---:|",
    ]
    for name, statement in STATEMENTS.items():
        runs = ", ".join(f"{value:.2f}" for value in times[name])
        lines.append(f"| `{statement}` | {runs} | {medians[name]:.2f} |")
    heavy = ", ".join(results["heavy_modules_loaded_by_import_hf_pricer"]) or "none"
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines += [
        "",
        f"**Ratio hf_pricer / floor: {ratio:.2f}** (target ≤ {TARGET_RATIO}: {verdict}). "
        f"Heavy libraries loaded by `import hf_pricer` ({', '.join(HEAVY)}): {heavy}.",
        "",
    ]
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, f"{args.name}.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    with open(os.path.join(RESULTS_DIR, f"{args.name}.md"), "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()
