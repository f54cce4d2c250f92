"""Reading photographed labels: (a) the Resformer on pixels, (b) OCR + rules, (c) the Resformer with OCR tokens.

    python benchmarks/resformer_photos.py --grocery /path/to/grocery --items /path/to/appliances_2000.jsonl
    python benchmarks/resformer_photos.py --ocr_model outputs/resformer-photos-ocr ...   # test a trained (c)
    python benchmarks/resformer_photos.py --quick          # a few minutes: tiny sets, no claims

Test sets: `--test_size` photographed labels of the test split (`generate_photographed_labels`: their (value,
unit) pairs, some cue wordings, brands and one layout never occur in training; composited into the Grocery Store
Dataset's *test* photos with `--grocery`, catalog scenes otherwise; 224–400 px, legibility floor 11 px) and as many
clean rendered labels of the test split (`generate_label_images`, 224 px). Both are read once by RapidOCR (the
`ocr` extra; cached by image content, `--ocr_procs` processes of one thread each).

Systems; the two models are trained by `recipes/train_resformer.py`, one run each, both at once (one thread each),
unless `--pixel_model` / `--ocr_model` name finished runs; nothing is chosen on the test rows:

- (a) `resformer_cpu.yaml` (128 px, no OCR) on the pixels of photographed and rendered train rows
  (`--dataset photos`, `--steps_pixels` steps);
- (b) `extract_entity_value(rules="units")`: OCR + unit map + entity rules, no training; `(b')` the cue-word rules
  (`rules="keywords"`, written knowing the generator's wording: an optimistic reference);
- (c) `resformer_ocr_cpu.yaml` as it stands (64 px + OCR tokens, trained on *simulated* OCR of the same kind of
  rows), evaluated on the real OCR of the test rows.

A validation set, the real OCR of `--validation_size` train-split photographs of another seed, is where changes to
the models are judged. F1, precision, recall and exact match are the challenge's (`entity_f1`), the sanity-pass
rate the share of predictions `check_prediction` accepts. images/s: (a) model only; (b) OCR (+ rules); (c) OCR +
model; one process. Writes benchmarks/results/resformer_photos.{json,md} (`--name`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resformer_labels import header, run_meta, score, write  # noqa: E402
from residual_throughput import foreign_cpu_share  # noqa: E402

from hf_pricer import (  # noqa: E402
    ResformerForConditionalGeneration,
    ResformerProcessor,
)
from hf_pricer.data.label_images import generate_label_images, generate_photographed_labels  # noqa: E402
from hf_pricer.data.ocr import RapidOcrEngine  # noqa: E402
from hf_pricer.data.ocr_rules import extract_entity_value  # noqa: E402

TEST_SEED, VALIDATION_SEED = 7, 11


def cpu_sample():
    """(wall time, busy CPU seconds of the machine, CPU seconds of this process and its finished children): the
    OCR and training processes are this run's, not other processes' load."""
    now = time.perf_counter()
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    times = os.times()
    return now, busy, times.user + times.system + times.children_user + times.children_system


def _ocr_chunk(images_and_cache):
    """Worker: RapidOCR (one thread) over JPEG/PNG bytes; returns the lines and the CPU seconds per image."""
    import io

    from PIL import Image

    torch.set_num_threads(1)
    blobs, cache_dir = images_and_cache
    engine = RapidOcrEngine(cache_dir=cache_dir, num_threads=1)
    out = []
    for blob in blobs:
        began = time.process_time()
        lines = engine(Image.open(io.BytesIO(blob)).convert("RGB"))
        out.append((lines, time.process_time() - began))
    return out, engine.report.cached, engine.report.skipped


def run_ocr(rows, procs: int, cache_dir: str | None) -> tuple[list, dict]:
    """Real OCR lines of every row's image, with timing (wall time over all, CPU seconds of uncached images)."""
    blobs = [row["image_bytes"] for row in rows]
    chunks = [(blobs[k::procs], cache_dir) for k in range(procs)]
    began = time.perf_counter()
    with ProcessPoolExecutor(procs) as pool:
        parts = list(pool.map(_ocr_chunk, chunks))
    wall = time.perf_counter() - began
    lines = [None] * len(rows)
    cpu, cached, failed = [], 0, 0
    for k, (part, part_cached, part_failed) in enumerate(parts):
        for j, (row_lines, seconds) in enumerate(part):
            lines[k + j * procs] = row_lines
            cpu.append(seconds)
        cached, failed = cached + part_cached, failed + part_failed
    fresh = [s for s in cpu if s > 0.05]  # cache hits take milliseconds
    return lines, {
        "images": len(rows), "wall_seconds": wall, "processes": procs, "cached": cached, "failed": failed,
        "cpu_seconds_per_image": float(np.mean(fresh)) if fresh else None,
    }


def _rows(dataset) -> list[dict]:
    """Plain dicts: `image` (RGB), `image_bytes` as stored (for the OCR) and `size`."""
    import io

    from datasets import Image as ImageFeature
    from PIL import Image

    out = []
    for row in dataset.cast_column("image", ImageFeature(decode=False)):
        blob = row.pop("image")["bytes"]
        image = Image.open(io.BytesIO(blob)).convert("RGB")
        out.append({**row, "image": image, "image_bytes": blob, "size": image.size})
    return out


RECIPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "train_resformer.py")
CONFIGS = os.path.join(os.path.dirname(RECIPE), "configs")


def recipe_arguments(kind: str, args, output_dir: str) -> list[str]:
    """`recipes/train_resformer.py` arguments of model (a) (`"pixels"`) or (c) (`"ocr"`)."""
    data = ["--output_dir", output_dir, "--disable_tqdm", "true"]
    data += ["--backgrounds", args.grocery] if args.grocery else []
    data += ["--attribute_values", args.items] if args.items else []
    if kind == "ocr":
        out = [os.path.join(CONFIGS, "resformer_ocr_cpu.yaml"), *data]
    else:
        out = [os.path.join(CONFIGS, "resformer_cpu.yaml"), *data, "--dataset", "photos", "--train_size",
               str(args.train_labels), "--rendered_size", str(args.rendered_train), "--data_workers", "2",
               "--max_steps", str(args.steps_pixels), "--eval_strategy", "steps", "--save_strategy", "steps",
               "--eval_steps", "500", "--save_steps", "500"]
    if args.quick:
        out += ["--train_size", "40", "--rendered_size", "10", "--eval_size", "8", "--max_steps", "10",
                "--eval_steps", "10", "--save_steps", "10"]
    return out


def train_models(args, kinds: list[str]) -> dict:
    """Run the recipe for each of `kinds` at once (one thread each); wall and CPU seconds of each run."""
    import resource
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs = {}
    for kind in kinds:
        output_dir = os.path.join(args.output_root, kind)
        arguments = recipe_arguments(kind, args, output_dir)
        log = open(os.path.join(args.output_root, f"{kind}.log"), "w")
        print(f"  training ({kind}): {' '.join(arguments)}", flush=True)
        process = subprocess.Popen([sys.executable, RECIPE, *arguments], env=env, stdout=log, stderr=subprocess.STDOUT)
        runs[kind] = (process, time.perf_counter(), output_dir, arguments, log)
    out = {}
    for kind, (process, began, output_dir, arguments, log) in runs.items():
        if process.wait() != 0:
            raise RuntimeError(f"the recipe run of model {kind} failed: see {log.name}")
        log.close()
        command = " ".join([os.path.relpath(RECIPE), *arguments]).replace(CONFIGS, os.path.relpath(CONFIGS))
        out[kind] = {"output_dir": output_dir, "seconds": time.perf_counter() - began, "log": log.name,
                     "command": "python " + command}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["cpu_seconds_all_runs"] = children.ru_utime + children.ru_stime
    return out


def load_model(output_dir: str):
    model = ResformerForConditionalGeneration.from_pretrained(output_dir).eval()
    return model, ResformerProcessor.from_pretrained(output_dir)


def run_summary(output_dir: str) -> dict:
    """Steps, the validation F1 that chose the checkpoint and the training time of a finished recipe run."""
    import json

    from transformers.trainer_utils import get_last_checkpoint

    # the run's own state (written by `PricerTrainer.finish`), else that of its last checkpoint
    state_file = os.path.join(output_dir, "trainer_state.json")
    last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
    if not os.path.exists(state_file) and last:
        state_file = os.path.join(last, "trainer_state.json")
    out = {}
    if os.path.exists(state_file):
        with open(state_file) as handle:
            state = json.load(handle)
        best = state.get("best_model_checkpoint")
        out = {"steps": state.get("max_steps") or state["global_step"], "best_validation_f1": state.get("best_metric"),
               "best_step": int(best.rsplit("-", 1)[-1]) if best else None}
    results = os.path.join(output_dir, "all_results.json")
    if os.path.exists(results):
        with open(results) as handle:
            out["train_runtime"] = json.load(handle).get("train_runtime")
    return out


def predict(model, processor, rows, ocr=None, batch_size=64) -> tuple[list[str], float]:
    """Greedy constrained predictions and the seconds the model took."""
    predictions, seconds = [], 0.0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        began = time.perf_counter()
        inputs = processor(
            [row["image"] for row in batch], entity_names=[row["entity_name"] for row in batch],
            ocr=None if ocr is None else ocr[start : start + batch_size],
        )
        with torch.inference_mode():
            generated = model.generate(**inputs)
        seconds += time.perf_counter() - began
        predictions += processor.decode_predictions(generated)
    return predictions, seconds


def by_size(predictions, rows) -> dict:
    """F1 by the photograph's side (224–279, 280–339, 340–400 px)."""
    out = {}
    for low, high in ((224, 279), (280, 339), (340, 400)):
        keep = [k for k, row in enumerate(rows) if low <= row["size"][0] <= high]
        if keep:
            out[f"{low}-{high} px"] = {"rows": len(keep), "f1": score([predictions[k] for k in keep],
                                                                        [rows[k] for k in keep])["f1"]}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grocery", help="Grocery Store Dataset folder (backgrounds); catalog scenes without")
    parser.add_argument("--items", help="items jsonl whose `details` give real attribute strings")
    parser.add_argument("--test_size", type=int, default=500)
    parser.add_argument("--train_labels", type=int, default=10000, help="(a): photographed train labels")
    parser.add_argument("--rendered_train", type=int, default=4000, help="(a): rendered train labels")
    parser.add_argument("--steps_pixels", type=int, default=2500, help="(a): training steps")
    parser.add_argument("--pixel_model", help="a finished recipe run to test as (a) instead of training one")
    parser.add_argument("--ocr_model", help="a finished recipe run to test as (c) instead of training one")
    parser.add_argument("--output_root", default="outputs/resformer-photos-benchmark", help="the recipe runs' folders")
    parser.add_argument("--validation_size", type=int, default=300)
    parser.add_argument("--ocr_procs", type=int, default=2)
    parser.add_argument("--ocr_cache", default=None, help="RapidOCR cache folder (default ~/.cache/hf_pricer/ocr)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes to check the script; results *_quick")
    parser.add_argument("--name", default="resformer_photos")
    args = parser.parse_args(argv)
    if args.quick:
        args.test_size, args.validation_size, args.name = 24, 20, args.name + "_quick"
    run_sample, began = cpu_sample(), time.perf_counter()
    timings = {}

    print("test and validation sets...", flush=True)
    photos = _rows(generate_photographed_labels(args.test_size, seed=TEST_SEED, split="test",
                                                backgrounds=args.grocery, attribute_values=args.items))
    rendered = _rows(generate_label_images(args.test_size, seed=TEST_SEED, image_size=224, split="test"))
    # Validation (what a change of the models may be judged on): train-split photographs of a seed no recipe run
    # trains or validates on; their (value, unit) pairs may occur in training.
    validation = _rows(generate_photographed_labels(args.validation_size, seed=VALIDATION_SEED, split="train",
                                                    backgrounds=args.grocery, attribute_values=args.items))
    sets = {"photographed": photos, "rendered": rendered, "validation": validation}

    kinds = [kind for kind, given in (("pixels", args.pixel_model), ("ocr", args.ocr_model)) if not given]
    os.makedirs(args.output_root, exist_ok=True)
    trainer = None
    if kinds:  # the recipe runs go on in the background while this process runs the OCR
        import threading

        trained = {}
        trainer = threading.Thread(target=lambda: trained.update(train_models(args, kinds)))
        trainer.start()
    print("OCR...", flush=True)
    ocr = {}
    for name, rows in sets.items():
        ocr[name], timings[f"ocr {name}"] = run_ocr(rows, 1 if kinds else args.ocr_procs, args.ocr_cache)
        print(f"  {name}: {timings[f'ocr {name}']}", flush=True)
    if trainer is not None:
        trainer.join()
        if set(kinds) - set(trained):
            raise RuntimeError("a recipe run failed: see the logs in " + args.output_root)
        for kind in kinds:
            timings[f"train {kind}"] = trained[kind]
        timings["train cpu_seconds_all_runs"] = trained["cpu_seconds_all_runs"]
    folders = {"pixels": args.pixel_model or trained["pixels"]["output_dir"],
               "ocr": args.ocr_model or trained["ocr"]["output_dir"]}
    models = {kind: load_model(folder) for kind, folder in folders.items()}
    for kind, folder in folders.items():
        timings.setdefault(f"train {kind}", {}).update(run_summary(folder))

    torch.set_num_threads(1)
    results = {}
    for set_name, rows in sets.items():
        lines = ocr[set_name]
        ocr_seconds = timings[f"ocr {set_name}"]["cpu_seconds_per_image"]
        ocr_seconds = float("nan") if ocr_seconds is None else ocr_seconds  # all cached: not measured
        systems = {}
        predictions, seconds = predict(*models["pixels"], rows)
        systems["(a) Resformer, pixels"] = (predictions, len(rows) / seconds)
        for label, rules in (("(b) OCR + unit rules", "units"), ("(b') OCR + cue-word rules", "keywords")):
            t0 = time.perf_counter()
            predictions = [extract_entity_value(x, row["entity_name"], rules=rules) for x, row in zip(lines, rows)]
            systems[label] = (predictions, 1 / (ocr_seconds + (time.perf_counter() - t0) / len(rows)))
        predictions, seconds = predict(*models["ocr"], rows, ocr=lines)
        systems["(c) Resformer + OCR tokens"] = (predictions, 1 / (ocr_seconds + seconds / len(rows)))
        results[set_name] = {}
        for label, (predictions, rate) in systems.items():
            metrics = score(predictions, rows)
            metrics["images_per_second"] = rate
            if set_name == "photographed":
                metrics["by_size"] = by_size(predictions, rows)
            metrics["examples"] = [(row["entity_name"], row["entity_value"], p) for row, p in zip(rows[:6], predictions)]
            results[set_name][label] = metrics

    digits_found = [
        any(row["entity_value"].split(" ")[0].rstrip("0").rstrip(".") in x["text"].replace(",", ".") for x in lines_)
        for row, lines_ in zip(photos, ocr["photographed"]) if row["entity_value"]
    ]
    meta = run_meta(argv, run_sample, wall_seconds=time.perf_counter() - began, timings=timings,
                    ocr_value_recall_photographed=float(np.mean(digits_found)) if digits_found else None,
                    models=folders, settings=vars(args))
    meta["foreign_cpu_share"] = foreign_cpu_share(run_sample, cpu_sample())
    write(args.name, meta, results, markdown(meta, results, args))


def markdown(meta, results, args) -> str:
    text = header("Reading photographed labels: pixels, OCR + rules, OCR tokens", meta)
    t = meta["timings"]
    text += (
        f"Test rows: {args.test_size} photographed labels (test split: unseen (value, unit) pairs; backgrounds: "
        f"{'Grocery Store Dataset test photos' if args.grocery else 'catalog scenes'}) and {args.test_size} "
        f"rendered labels (test split, 224 px). Validation rows: {args.validation_size} photographed train-split "
        f"labels of another seed, real OCR. The OCR found the answer's number on "
        f"{meta['ocr_value_recall_photographed']:.3f} of the photographed test rows with an answer (the ceiling of "
        f"(b) and (c)). Whole run: {meta['wall_seconds'] / 60:.0f} min.\n\n"
    )
    for kind, label in (("ocr", "(c)"), ("pixels", "(a)")):
        run = t[f"train {kind}"]
        text += f"Model {label}: `{meta['models'][kind]}`"
        if run.get("command"):
            text += f", trained here in {run['seconds'] / 60:.0f} min by `{run['command']}`"
        elif run.get("train_runtime"):
            text += f", a recipe run whose training took {run['train_runtime'] / 60:.0f} min"
        if run.get("steps") is not None:
            text += (f"; {run['steps']} steps, checkpoint of step {run['best_step']} chosen at validation F1 "
                     f"{run['best_validation_f1']:.3f}")
            text += " (the recipe's own validation: simulated OCR)"
        text += ".\n\n"
    titles = {"photographed": "Photographed labels (test split, real OCR)", "rendered": "Rendered labels (test split, "
              "real OCR)", "validation": "Validation: photographed train-split labels of another seed, real OCR"}
    for set_name, systems in results.items():
        text += f"## {titles[set_name]}\n\n| system | F1 | precision | recall | exact match | sanity pass "
        text += "| images/s |\n|---|---|---|---|---|---|---|\n"
        for label, m in systems.items():
            text += (f"| {label} | {m['f1']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['exact_match']:.3f} "
                     f"| {m['sanity_pass_rate']:.3f} | {m['images_per_second']:.2f} |\n")
        text += "\n"
    sizes = {label: m for label, m in results["photographed"].items()}
    text += "F1 by photograph size: " + "; ".join(
        f"{label}: " + ", ".join(f"{k} {v['f1']:.3f} ({v['rows']})" for k, v in m["by_size"].items())
        for label, m in sizes.items()
    ) + ".\n\n"
    seconds = {name: t[f"ocr {name}"]["cpu_seconds_per_image"] for name in ("photographed", "rendered", "validation")}
    text += (
        "images/s: (a) the model alone; (b) and (c) include the OCR's CPU time per uncached image ("
        + ", ".join(f"{s_:.2f} s {name}" if s_ else f"{name} cached: not measured" for name, s_ in seconds.items())
        + ", one thread), which dominates.\n"
    )
    return text


if __name__ == "__main__":
    main()
