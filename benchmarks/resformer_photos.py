"""Reading photographed labels: (a) the Resformer on pixels, (b) OCR + rules, (c) the Resformer with OCR tokens.

    python benchmarks/resformer_photos.py --grocery /path/to/grocery --items /path/to/appliances_2000.jsonl
    python benchmarks/resformer_photos.py --quick          # a few minutes: tiny sets, no claims

Test sets: `--test_size` photographed labels of the test split (`generate_photographed_labels`: their (value,
unit) pairs, some cue wordings, brands and one layout never occur in training; composited into the Grocery Store
Dataset's *test* photos with `--grocery`, catalog scenes otherwise; 224–400 px, legibility floor 11 px) and as many
clean rendered labels of the test split (`generate_label_images`, 224 px). Both are read once by RapidOCR (the
`ocr` extra; cached by image content, `--ocr_procs` processes of one thread each).

Systems, all trained here from scratch with fixed settings (nothing is chosen on the test rows):

- (a) `ResformerConfig.cpu_preset()` (128 px, no OCR) trained on the pixels of photographed and rendered train rows;
- (b) `extract_entity_value(rules="units")`: OCR + unit map + entity rules, no training; `(b')` the cue-word rules
  (`rules="keywords"`, written knowing the generator's wording: an optimistic reference);
- (c) `cpu_preset(use_ocr_tokens=True, image_size=64)` trained on *simulated* OCR (`simulate_ocr`) of the same train
  rows, evaluated on the real OCR of the test rows.

F1, precision, recall and exact match are the challenge's (`entity_f1`), the sanity-pass rate the share of
predictions `check_prediction` accepts. images/s: (a) model only; (b) OCR (+ rules); (c) OCR + model; one process.
Writes benchmarks/results/resformer_photos.{json,md} (`--name`).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
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
    ResformerConfig,
    ResformerForConditionalGeneration,
    ResformerImageProcessor,
    ResformerProcessor,
    ResformerTokenizer,
)
from hf_pricer.data.label_images import generate_label_images, generate_photographed_labels  # noqa: E402
from hf_pricer.data.ocr import RapidOcrEngine, simulate_ocr  # noqa: E402
from hf_pricer.data.ocr_rules import extract_entity_value  # noqa: E402

TEST_SEED, TRAIN_SEED, VALIDATION_SEED = 7, 3, 11


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


def _rows(dataset, image_size: int | None = None) -> list[dict]:
    """Plain dicts: `image` (RGB, resized to `image_size` for training), `image_bytes` as stored (for the OCR)
    and `size` (the stored image's)."""
    import io

    from datasets import Image as ImageFeature
    from PIL import Image

    out = []
    for row in dataset.cast_column("image", ImageFeature(decode=False)):
        blob = row.pop("image")["bytes"]
        image = Image.open(io.BytesIO(blob)).convert("RGB")
        size = image.size
        if image_size:
            image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
        out.append({**row, "image": image, "image_bytes": blob, "size": size})
    return out


def training_rows(args) -> list[dict]:
    """Photographed (every entity of each label) and rendered train rows, with simulated OCR lines."""
    photos = generate_photographed_labels(
        args.train_labels, seed=TRAIN_SEED, split="train", rows="all", backgrounds=args.grocery,
        attribute_values=args.items, num_proc=args.ocr_procs,
    )
    rendered = generate_label_images(args.rendered_train, seed=TRAIN_SEED, image_size=224, split="train",
                                     with_layout=True)
    rows = []
    for dataset in (photos, rendered):
        for k, row in enumerate(_rows(dataset, image_size=128)):
            rng = np.random.default_rng([TRAIN_SEED, len(rows), k])
            row["ocr"] = simulate_ocr(row["layout"], row["size"], rng)
            row.pop("image_bytes")
            rows.append(row)
    return rows


def train(config: ResformerConfig, rows: list[dict], steps: int, seed: int, log_every: int = 200):
    """AdamW (1e-3, weight decay 0.01), 200 warm-up steps then cosine, batch 32, gradient clipping 1.0."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    tokenizer = ResformerTokenizer()
    processor = ResformerProcessor.for_config(ResformerImageProcessor(size=config.image_size), tokenizer, config)
    model = ResformerForConditionalGeneration(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(step / steps, 1.0)))
    )
    rng = np.random.default_rng(seed)
    began, losses = time.perf_counter(), []
    for step in range(steps):
        batch_rows = [rows[k] for k in rng.integers(0, len(rows), 32)]
        batch = processor(
            images=[row["image"] for row in batch_rows], entity_names=[row["entity_name"] for row in batch_rows],
            text=[row["entity_value"] for row in batch_rows],
            ocr=[row["ocr"] for row in batch_rows] if config.use_ocr_tokens else None,
        )
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % log_every == 0:
            print(f"  [{'ocr' if config.use_ocr_tokens else 'pixels'}] step {step + 1}/{steps} "
                  f"loss {np.mean(losses[-log_every:]):.4f} ({time.perf_counter() - began:.0f} s)", flush=True)
    return model.eval(), processor, {"steps": steps, "seconds": time.perf_counter() - began,
                                     "final_loss": float(np.mean(losses[-log_every:]))}


_TRAIN_ROWS: list[dict] = []  # set before the training processes fork, so that they share it


def _train_job(job):
    kind, steps, seed = job
    rows = _TRAIN_ROWS
    config = (ResformerConfig.cpu_preset(use_ocr_tokens=True, image_size=64) if kind == "ocr"
              else ResformerConfig.cpu_preset())
    if kind == "ocr":
        from PIL import Image

        rows = [{**row, "image": row["image"].resize((64, 64), Image.Resampling.BILINEAR)} for row in rows]
    model, _, summary = train(config, rows, steps, seed)
    return kind, model.state_dict(), config.to_dict(), summary


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
    parser.add_argument("--train_labels", type=int, default=10000, help="photographed train labels (all entities)")
    parser.add_argument("--rendered_train", type=int, default=4000)
    parser.add_argument("--steps_ocr", type=int, default=5000)
    parser.add_argument("--steps_pixels", type=int, default=2500)
    parser.add_argument("--validation_size", type=int, default=300)
    parser.add_argument("--ocr_procs", type=int, default=2)
    parser.add_argument("--ocr_cache", default=None, help="RapidOCR cache folder (default ~/.cache/hf_pricer/ocr)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes to check the script; results *_quick")
    parser.add_argument("--name", default="resformer_photos")
    args = parser.parse_args(argv)
    if args.quick:
        args.test_size, args.train_labels, args.rendered_train, args.validation_size = 24, 60, 30, 20
        args.steps_ocr, args.steps_pixels, args.name = 20, 10, args.name + "_quick"
    run_sample, began = cpu_sample(), time.perf_counter()
    timings = {}

    print("test sets...", flush=True)
    photos = _rows(generate_photographed_labels(args.test_size, seed=TEST_SEED, split="test",
                                                backgrounds=args.grocery, attribute_values=args.items))
    rendered = _rows(generate_label_images(args.test_size, seed=TEST_SEED, image_size=224, split="test"))
    print("OCR of the test sets...", flush=True)
    ocr = {}
    for name, rows in (("photographed", photos), ("rendered", rendered)):
        ocr[name], timings[f"ocr {name}"] = run_ocr(rows, args.ocr_procs, args.ocr_cache)
        print(f"  {name}: {timings[f'ocr {name}']}", flush=True)

    print("train rows...", flush=True)
    t0 = time.perf_counter()
    _TRAIN_ROWS[:] = training_rows(args)
    timings["train rows"] = {"rows": len(_TRAIN_ROWS), "seconds": time.perf_counter() - t0}
    print(f"  {timings['train rows']}", flush=True)
    # The two models train at once, one process (one thread) each.
    jobs = [("ocr", args.steps_ocr, 0), ("pixels", args.steps_pixels, 1)]
    models = {}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        for kind, state, config_dict, summary in pool.map(_train_job, jobs):
            config = ResformerConfig.from_dict(config_dict)
            model = ResformerForConditionalGeneration(config)
            model.load_state_dict(state)
            processor = ResformerProcessor.for_config(
                ResformerImageProcessor(size=config.image_size), ResformerTokenizer(), config
            )
            models[kind] = (model.eval(), processor)
            timings[f"train {kind}"] = summary
    _TRAIN_ROWS.clear()

    torch.set_num_threads(1)
    # Validation (what a change of the model may be judged on): train-split photographs of another seed, simulated
    # OCR. Their (value, unit) pairs may occur in training.
    validation = _rows(generate_photographed_labels(args.validation_size, seed=VALIDATION_SEED, split="train",
                                                    backgrounds=args.grocery, attribute_values=args.items))
    rng = np.random.default_rng(VALIDATION_SEED)
    ocr["validation"] = [simulate_ocr(row["layout"], row["size"], rng) for row in validation]
    timings["ocr validation"] = {"cpu_seconds_per_image": 0.0}
    results = {}
    for set_name, rows in (("photographed", photos), ("rendered", rendered), ("validation", validation)):
        truths_rows, lines = rows, ocr[set_name]
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
            metrics = score(predictions, truths_rows)
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
                    settings=vars(args))
    meta["foreign_cpu_share"] = foreign_cpu_share(run_sample, cpu_sample())
    write(args.name, meta, results, markdown(meta, results, args))


def markdown(meta, results, args) -> str:
    text = header("Reading photographed labels: pixels, OCR + rules, OCR tokens", meta)
    t = meta["timings"]
    text += (
        f"Test rows: {args.test_size} photographed labels (test split: unseen (value, unit) pairs; backgrounds: "
        f"{'Grocery Store Dataset test photos' if args.grocery else 'catalog scenes'}) and {args.test_size} "
        f"rendered labels (test split, 224 px). Training: {t['train rows']['rows']} rows "
        f"({args.train_labels} photographed labels, every entity they show, + {args.rendered_train} rendered labels), "
        f"simulated OCR for (c); (c) {t['train ocr']['steps']} steps ({t['train ocr']['seconds'] / 60:.0f} min), "
        f"(a) {t['train pixels']['steps']} steps ({t['train pixels']['seconds'] / 60:.0f} min), batch 32, one "
        f"thread each, both at once. The OCR found the answer's number on "
        f"{meta['ocr_value_recall_photographed']:.3f} of the photographed rows with an answer (the ceiling of (b) "
        f"and (c)). Whole run: {meta['wall_seconds'] / 60:.0f} min.\n\n"
    )
    titles = {"photographed": "Photographed labels (test split, real OCR)", "rendered": "Rendered labels (test split, "
              "real OCR)", "validation": "Validation: photographed train-split labels of another seed, simulated OCR "
              "(images/s: without the OCR)"}
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
    text += (
        "images/s: (a) the model alone; (b) and (c) include the OCR's CPU time per uncached image "
        f"({t['ocr photographed']['cpu_seconds_per_image'] or float('nan'):.2f} s photographed, "
        f"{t['ocr rendered']['cpu_seconds_per_image'] or float('nan'):.2f} s rendered, one thread), which dominates.\n"
    )
    return text


if __name__ == "__main__":
    main()
