"""Dual-embedding regressor on real photos: the Grocery Store Dataset's `Packages` classes (benchmark only).

Coarse class (Juice, Milk, Yoghurt, ...) → company, fine class → model, targets from each class's
`_Information.txt`: package size (g or ml) and energy (kcal per 100 g). The records go through the records' JSON
format and both recipes: two stage-1 ViT classifiers (`recipes/train_classifier.py`, a small ViT trained from
scratch: no pretrained ViT can be downloaded here), then stage 2 (`recipes/train_dual_embedding.py`) with each
attention type, and a small hyperparameter search. Baselines: the training-set mean; the training-set mean of
the fine class predicted by the stage-1 model classifier ("class mean"); and a visual-only ridge regression on
the company classifier's ViT features.

    nice -n 5 python benchmarks/dual_embedding_grocery.py                   # writes results/dual_embedding_grocery.{md,json}
    nice -n 5 python benchmarks/dual_embedding_grocery.py --quick           # smoke run, *_quick files
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes"))

import train_classifier  # noqa: E402
import train_dual_embedding  # noqa: E402

from hf_pricer import EmbeddingClassifierCollator, EmbeddingClassifierForImageClassification  # noqa: E402
from hf_pricer.data.records import GROCERY_TARGETS, grocery_records, load_records, save_json  # noqa: E402
from hf_pricer.image_processing_utils import vit_image_processor  # noqa: E402

GROCERY = os.path.join(ROOT, "..", "shared", "data", "grocery")
RESULTS = os.path.join(ROOT, "benchmarks", "results")
TARGETS = list(GROCERY_TARGETS)


def downsized(records, folder, size=64):
    """Copies of the records whose images are `size`-px PNGs: decoding the 224 px JPEGs every epoch would
    dominate a CPU run. The models still resize them to their own image size."""
    from hf_pricer.data.images import load_image

    os.makedirs(folder, exist_ok=True)
    for record in records:
        path = os.path.join(folder, record["id"].replace("/", "_").rsplit(".", 1)[0] + ".png")
        if not os.path.isfile(path):
            image, _ = load_image(record["image"])
            image.resize((size, size)).save(path)
        record["image_path"] = path
        del record["image"]
    return records


def mean_mae(predictions, labels):
    errors = np.abs(np.asarray(predictions) - np.asarray(labels)).mean(axis=0)
    return {**{f"mae_{name}": float(e) for name, e in zip(TARGETS, errors)}, "mean_mae": float(errors.mean())}


@torch.no_grad()
def encode(classifier, dataset, image_size):
    collator = EmbeddingClassifierCollator(vit_image_processor(image_size), classifier.config.label_field,
                                           {label: 0 for label in dataset[classifier.config.label_field]})
    logits, features = [], []
    classifier.eval()
    for start in range(0, len(dataset), 64):
        batch = collator([dataset[i] for i in range(start, min(start + 64, len(dataset)))])
        outputs = classifier(batch["pixel_values"])
        logits.append(outputs.logits.numpy())
        features.append(outputs.image_features.numpy())
    return np.concatenate(logits), np.concatenate(features)


def baselines(work, train, test, image_size):
    labels = np.array([[row[name] for name in TARGETS] for row in test])
    train_targets = np.array([[row[name] for name in TARGETS] for row in train])
    results = {"training-set mean": mean_mae(np.tile(train_targets.mean(0), (len(test), 1)), labels)}

    model_classifier = EmbeddingClassifierForImageClassification.from_pretrained(os.path.join(work, "model"))
    logits, _ = encode(model_classifier, test, image_size)
    predicted = [model_classifier.config.id2label[int(i)] for i in logits.argmax(1)]
    class_means = {c: train_targets[np.array(train["model"]) == c].mean(0) for c in set(train["model"])}
    results["class mean (stage-1 model classifier)"] = mean_mae(np.array([class_means[c] for c in predicted]), labels)
    results["class mean (stage-1 model classifier)"]["model_accuracy"] = float(
        np.mean(np.array(predicted) == np.array(test["model"]))
    )
    results["class mean (true class, oracle)"] = mean_mae(np.array([class_means[c] for c in test["model"]]), labels)

    company = EmbeddingClassifierForImageClassification.from_pretrained(os.path.join(work, "company"))
    _, train_features = encode(company, train, image_size)
    test_logits, test_features = encode(company, test, image_size)
    results["class mean (stage-1 model classifier)"]["company_accuracy"] = float(
        np.mean(np.array([company.config.id2label[int(i)] for i in test_logits.argmax(1)]) == np.array(test["company"]))
    )
    # Visual-only: ridge regression on the company classifier's ViT [CLS] features (standardized targets).
    mean, std = train_targets.mean(0), train_targets.std(0)
    x = np.hstack([train_features, np.ones((len(train_features), 1))])
    weights = np.linalg.solve(x.T @ x + 1.0 * np.eye(x.shape[1]), x.T @ ((train_targets - mean) / std))
    test_x = np.hstack([test_features, np.ones((len(test_features), 1))])
    results["visual-only (ridge on ViT features)"] = mean_mae(test_x @ weights * std + mean, labels)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "outputs", "bench-dual-embedding"))
    parser.add_argument("--hpo_trials", type=int, default=6)
    options = parser.parse_args()
    if not os.path.isdir(GROCERY):
        print(f"SKIPPED: grocery data not found at {os.path.abspath(GROCERY)} (this benchmark needs ../shared/data)")
        return
    torch.manual_seed(0)
    started = time.time()
    work = options.work_dir + ("-quick" if options.quick else "")
    os.makedirs(work, exist_ok=True)

    splits = {}
    for split in ("train", "test"):
        records = grocery_records(GROCERY, split)
        if options.quick:
            records = records[::8]
        splits[split], report = load_records(records, TARGETS, name=f"grocery {split}")
        save_json(downsized(list(splits[split]), os.path.join(work, "images")), os.path.join(work, f"{split}.json"))
        splits[f"{split}_report"] = report.summary()
    train, test = (load_records(os.path.join(work, f"{split}.json"), TARGETS)[0] for split in ("train", "test"))

    image_size, epochs1, epochs2 = (32, 2, 2) if options.quick else (32, 8, 4)
    vit = ["--image_size", str(image_size), "--patch_size", "8", "--hidden_size", "192", "--num_hidden_layers", "4",
           "--num_attention_heads", "3", "--intermediate_size", "384", "--embedding_dim", "256"]
    data = ["--train_json", os.path.join(work, "train.json"), "--val_json", os.path.join(work, "test.json"),
            "--target_names", *TARGETS]
    common = ["--logging_steps", "50", "--disable_tqdm", "true", "--save_strategy", "no", "--report_to", "none"]
    stage1 = {}
    for field in ("company", "model"):
        trainer = train_classifier.main([*data, *vit, *common, "--label_field", field, "--output_dir",
                                         os.path.join(work, field), "--num_train_epochs", str(epochs1),
                                         "--learning_rate", "0.001"])
        stage1[field] = trainer.state.log_history[-1]
    results = {"baselines": baselines(work, train, test, image_size), "stage1": stage1, "stage2": {}}

    stage2 = [*data, *common, "--company_classifier", os.path.join(work, "company"), "--model_classifier",
              os.path.join(work, "model"), "--num_train_epochs", str(epochs2), "--unfreeze_epochs",
              str(epochs2 // 4), str(epochs2 // 2), "--learning_rate", "0.001"]
    for attention in ("dual", "triple", "hierarchical"):
        output_dir = os.path.join(work, f"stage2-{attention}")
        train_dual_embedding.main([*stage2, "--attention_type", attention, "--output_dir", output_dir])
        with open(os.path.join(output_dir, "results.json")) as handle:
            results["stage2"][attention] = json.load(handle)

    hpo_dir = os.path.join(work, "hpo")
    hpo_started = time.time()
    train_dual_embedding.main([*stage2, "--output_dir", hpo_dir, "--num_train_epochs", "2", "--hpo_trials",
                               str(2 if options.quick else options.hpo_trials), "--eval_strategy", "epoch",
                               "--hpo_unfreeze_schedules", "0,1", "1,2", "2,2"])
    results["hpo_minutes"] = (time.time() - hpo_started) / 60
    results["hpo_table"] = open(os.path.join(hpo_dir, "hpo_results.md")).read()
    results["minutes"] = (time.time() - started) / 60
    results["data"] = {key: value for key, value in splits.items() if key.endswith("report")}
    results["setup"] = {"image_size": image_size, "stage1_epochs": epochs1, "stage2_epochs": epochs2,
                        "vit": " ".join(vit)}
    write_results(results, options)


def write_results(results, options):
    suffix = "_quick" if options.quick else ""
    command = "nice -n 5 python benchmarks/dual_embedding_grocery.py" + (" --quick" if options.quick else "")
    setup = results["setup"]
    rows = [f"| {name} | {m['mae_package_size']:.1f} | {m['mae_energy_kcal']:.2f} | {m['mean_mae']:.2f} |"
            for name, m in results["baselines"].items()]
    for attention, result in results["stage2"].items():
        m = result["metrics"]
        weights = ", ".join(f"{w:.2f}" for w in result["mean_attention_weights"])
        rows.append(f"| dual-embedding, `{attention}` attention (mean weights {weights}) | "
                    f"{m['eval_mae_package_size']:.1f} | {m['eval_mae_energy_kcal']:.2f} | {m['eval_mean_mae']:.2f} |")
    stage1 = ", ".join(f"{field} accuracy {log.get('eval_accuracy', float('nan')):.3f}"
                       for field, log in results["stage1"].items())
    text = f"""# Dual-embedding regressor on the Grocery Store Dataset (Packages)

Command: `{command}` — {datetime.date.today()}, torch {torch.__version__}, transformers {transformers.__version__},
{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (timings not clean).
Total {results['minutes']:.1f} min; the hyperparameter search {results['hpo_minutes']:.1f} min.

**No pretrained ViT can be downloaded here**: both stage-1 classifiers are a small ViT
(`{setup['vit']}`) trained from scratch for {setup['stage1_epochs']} epochs on {setup['image_size']} px images
({stage1}). The design's ViT-Base/16 from ImageNet-21k would be far stronger; these numbers compare the
fusion variants and baselines under one small budget, not the design's accuracy.

Data: `grocery_records` (coarse class → company, fine class → model, targets from `_Information.txt`), photos
cached once as 64 px PNGs (JPEG decoding would dominate), train split
→ training, test split → evaluation; records without an energy value are skipped and counted:
{results['data']}. Both targets are constant within a fine class, so the oracle class mean is 0 by construction.
Stage 2: {setup['stage2_epochs']} epochs, unfreezing scaled from the design's 20/40 of 50, LR 1e-3, embedding
models at 0.1×, cosine with 10 % warmup, MSE on standardized targets.

| model | MAE package size (g/ml) | MAE energy (kcal/100 g) | mean MAE |
|---|---|---|---|
{chr(10).join(rows)}

## Hyperparameter search

`Trainer.hyperparameter_search` (optuna TPE), 2 epochs per trial, objective `eval_mean_mae` (minimised), on the same
stage-1 classifiers; embedding dim, attention type, unfreeze schedule (scaled to 2 epochs), LR multiplier and LR:

{results['hpo_table']}
"""
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"dual_embedding_grocery{suffix}.md"), "w") as handle:
        handle.write(text)
    save_json({**results, "command": command}, os.path.join(RESULTS, f"dual_embedding_grocery{suffix}.json"))
    print(text)


if __name__ == "__main__":
    main()
