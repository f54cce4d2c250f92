"""Resformer Hub round trip against the local Hub-protocol server (see `tests/conftest.py`)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import torch
from huggingface_hub import HfApi, ModelCard
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

from hf_pricer import ResformerForConditionalGeneration, ResformerProcessor, ResformerTokenizer
from hf_pricer.hub import push_model_to_hub

from .test_modeling_resformer import tiny_model
from .test_processing_resformer import processor


def write_images(folder):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(2):
        path = folder / f"label{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_hub_round_trip_auto_classes_and_remote_code(hub_server, tmp_path):
    model, proc = tiny_model(5), processor(size=32)
    push_model_to_hub(model, "tester/resformer-tiny", processor=proc, metrics={"eval_f1": 0.75, "eval_exact_match": 0.8})
    files = set(HfApi().list_repo_files("tester/resformer-tiny"))
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "processor_config.json", "README.md"} <= files
    assert {"modeling_resformer.py", "configuration_resformer.py", "tokenization_resformer.py", "processing_resformer.py"} <= files

    card = ModelCard.load("tester/resformer-tiny")
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["f1"].metric_value == 0.75 and results["f1"].task_type == "image-to-text"
    assert "entity-value-extraction" in card.data.tags and "smape" not in card.data.metrics

    paths = write_images(tmp_path)
    entities = ["voltage", "item_volume"]
    inputs = proc(paths, entity_names=entities)
    expected = proc.decode_predictions(model.generate(**inputs, num_beams=2))

    loaded = AutoModelForImageTextToText.from_pretrained("tester/resformer-tiny").eval()
    loaded_processor = AutoProcessor.from_pretrained("tester/resformer-tiny")
    assert type(loaded) is ResformerForConditionalGeneration and type(loaded_processor) is ResformerProcessor
    assert type(AutoTokenizer.from_pretrained("tester/resformer-tiny")) is ResformerTokenizer
    again = loaded_processor(paths, entity_names=entities)
    assert loaded_processor.decode_predictions(loaded.generate(**again, num_beams=2)) == expected

    script = textwrap.dedent(
        f"""
        import json, sys
        from transformers import AutoModelForImageTextToText, AutoProcessor
        assert "hf_pricer" not in sys.modules
        try:
            AutoModelForImageTextToText.from_pretrained("tester/resformer-tiny")
        except ValueError as error:
            refused = "trust_remote_code" in str(error)
        model = AutoModelForImageTextToText.from_pretrained("tester/resformer-tiny", trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained("tester/resformer-tiny", trust_remote_code=True)
        inputs = processor({paths!r}, entity_names={entities!r})
        predictions = processor.decode_predictions(model.generate(**inputs, num_beams=2))
        print("RESULT=" + json.dumps({{"refused": refused, "module": type(model).__module__, "predictions": predictions}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.split("RESULT=")[-1])
    assert report["refused"] is True
    assert report["module"].startswith("transformers_modules")
    assert report["predictions"] == expected
