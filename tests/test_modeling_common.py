"""What every hf_pricer model does with 🤗 checkpoints, tested once for all models (transformers'
`ModelTesterMixin`): save → `from_pretrained` gives the same weights and outputs; the Auto classes load the
model and its processors; a model pushed to the Hub loads back, and loads through `trust_remote_code=True` in
a fresh process that never imported hf_pricer.

A model's test class says what differs: the model class, its Auto classes, a tiny model and its inputs.

    class TestResidualRegressorForPriceRegression(ModelTesterMixin):
        model_class = ResidualRegressorForPriceRegression
        processor_auto_classes = {AutoFeatureExtractor: ResidualRegressorProcessor}

        def get_model(self): ...
        def get_processor(self): ...
        def get_inputs(self, folder): ...
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from huggingface_hub import HfApi
from transformers import AutoConfig, AutoModel

from hf_pricer.hub import push_model_to_hub
from tests.remote_code import model_outputs
from tests.utils import REPO_ROOT


def code_file(cls) -> str:
    """The file a class's code is saved in next to the weights, e.g. `modeling_resformer.py`."""
    return cls.__module__.rsplit(".", 1)[-1] + ".py"


def assert_same_weights(model, loaded) -> None:
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for name, tensor in state.items():
        assert torch.equal(loaded_state[name], tensor), name


def assert_same_outputs(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, msg=name)


def train_on_one_batch(model, batch: dict, steps: int, lr: float, optimizer_class=torch.optim.AdamW) -> list:
    """Train `model` on one batch of keyword tensors (`labels` included) for `steps` steps; returns the
    losses, for the tests that a model can fit a tiny batch."""
    model.train()
    optimizer = optimizer_class(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def run_remote_code(spec: dict, folder) -> dict:
    """Run `tests/remote_code.py` with `spec` in a fresh process (see there); returns its report."""
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec))
    # The repository's code imports hf_pricer's shared modules (it needs hf_pricer installed): PYTHONPATH makes
    # them this checkout's, the code under test, rather than an installed copy.
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.remote_code", str(spec_file)], check=False, capture_output=True, text=True,
        env=env, cwd=folder, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(Path(spec["report_file"]).read_text())


class ModelTesterMixin:
    """The tests every model's test class inherits; see the module docstring."""

    model_class: type
    # the Auto classes that load `model_class` from its checkpoint once hf_pricer is imported
    auto_classes: tuple = (AutoModel,)
    # Auto class → the class it loads from a checkpoint saved with `get_processor()`
    processor_auto_classes: dict = {}
    # compare `model.generate(**inputs, **generate_kwargs)` rather than the forward outputs
    generate_kwargs: dict | None = None
    # a processor method that turns generated ids into predictions, compared after the remote-code load
    postprocess: str | None = None

    def get_model(self):
        """A tiny model in eval mode, the same at every call."""
        raise NotImplementedError

    def get_processor(self):
        """The model's processor, or `None` when `get_inputs` gives the model's tensors."""
        return None

    def get_inputs(self, folder):
        """The processor's keyword arguments as JSON values (images as files written to `folder`), or the
        model's keyword tensors when it has no processor."""
        raise NotImplementedError

    def check_reloaded(self, model, loaded):
        """What a reloaded model keeps beyond its weights and outputs, for models that need more checks."""

    # -- helpers ------------------------------------------------------------------------------------------

    @property
    def remote_auto_class(self) -> str:
        """The Auto class the model is registered for remote code with, as `auto_map` names it."""
        return self.model_class._auto_class

    def processor_auto_class(self, processor):
        """The Auto class that loads `processor`'s class."""
        return next(auto for auto, cls in self.processor_auto_classes.items() if cls is type(processor))

    def load_processor(self, processor, source):
        """`processor` reloaded from `source` (a folder or a Hub repository) through its Auto class."""
        if processor is not None:
            return self.processor_auto_class(processor).from_pretrained(source)

    def outputs(self, model, processor, inputs) -> dict:
        model_inputs = processor(**inputs) if processor is not None else inputs
        return model_outputs(model, model_inputs, self.generate_kwargs)

    def save(self, folder):
        model, processor = self.get_model(), self.get_processor()
        model.save_pretrained(folder)
        if processor is not None:
            processor.save_pretrained(folder)
        return model, processor

    def push(self, repo_id: str, folder):
        """Push the tiny model and its processor with `push_model_to_hub`, check that the repository holds
        what `save_pretrained` writes (the code files included) and no pickled weights; returns them."""
        model, processor = self.save(folder)
        push_model_to_hub(model, repo_id, processor=processor)
        files = set(HfApi().list_repo_files(repo_id))
        saved = {os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder)
                 for name in names}
        assert saved | {"README.md"} <= files
        code = {code_file(self.model_class), code_file(self.model_class.config_class)}
        processor_classes = self.processor_auto_classes.values()
        code |= {code_file(cls) for cls in processor_classes if cls.__module__.startswith("hf_pricer.")}
        assert code <= files
        assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl")) for name in files)
        return model, processor

    def repo_id(self, purpose: str) -> str:
        return f"tester/{self.model_class.__name__.lower()}-{purpose}"

    # -- tests --------------------------------------------------------------------------------------------

    def test_save_load_equality(self, tmp_path):
        model, processor = self.save(tmp_path / "model")
        assert (tmp_path / "model" / "model.safetensors").is_file()
        assert not list((tmp_path / "model").glob("*.bin"))
        loaded, info = self.model_class.from_pretrained(tmp_path / "model", output_loading_info=True)
        loaded.eval()
        assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
        assert type(loaded) is self.model_class
        assert_same_weights(model, loaded)
        inputs = self.get_inputs(tmp_path)
        assert_same_outputs(self.outputs(loaded, processor, inputs), self.outputs(model, processor, inputs))
        self.check_reloaded(model, loaded)

    def test_auto_classes(self, tmp_path):
        model, processor = self.save(tmp_path)
        config = json.loads((tmp_path / "config.json").read_text())
        module = code_file(self.model_class).removesuffix(".py")
        assert config["auto_map"][self.remote_auto_class] == f"{module}.{self.model_class.__name__}"
        assert type(AutoConfig.from_pretrained(tmp_path)) is self.model_class.config_class
        for auto_class, processor_class in self.processor_auto_classes.items():
            assert type(auto_class.from_pretrained(tmp_path)) is processor_class, auto_class.__name__
        loaded_processor = self.load_processor(processor, tmp_path)
        inputs = self.get_inputs(tmp_path)
        expected = self.outputs(model, processor, inputs)
        for auto_class in self.auto_classes:
            loaded = auto_class.from_pretrained(tmp_path).eval()
            assert type(loaded) is self.model_class, auto_class.__name__
            assert_same_outputs(self.outputs(loaded, loaded_processor, inputs), expected)

    def test_push_to_hub_and_load(self, hub_server, tmp_path):
        repo_id = self.repo_id("hub")
        model, processor = self.push(repo_id, tmp_path / "pushed")
        loaded = getattr(transformers, self.remote_auto_class).from_pretrained(repo_id).eval()
        assert type(loaded) is self.model_class
        assert_same_weights(model, loaded)
        loaded_processor = self.load_processor(processor, repo_id)
        assert type(loaded_processor) is type(processor)
        inputs = self.get_inputs(tmp_path)
        expected = self.outputs(model, processor, inputs)
        assert_same_outputs(self.outputs(loaded, loaded_processor, inputs), expected)

    @pytest.mark.slow
    def test_remote_code_in_a_fresh_process(self, hub_server, tmp_path):
        repo_id = self.repo_id("remote")
        model, processor = self.push(repo_id, tmp_path / "pushed")
        inputs = self.get_inputs(tmp_path)
        spec = {
            "repo_id": repo_id,
            "auto_class": self.remote_auto_class,
            "generate_kwargs": self.generate_kwargs,
            "postprocess": self.postprocess,
            "outputs_file": str(tmp_path / "outputs.pt"),
            "report_file": str(tmp_path / "report.json"),
        }
        if processor is not None:
            spec["processor_auto_class"] = self.processor_auto_class(processor).__name__
            spec["processor_inputs"] = inputs
        else:
            torch.save(inputs, tmp_path / "inputs.pt")
            spec["inputs_file"] = str(tmp_path / "inputs.pt")
        report = run_remote_code(spec, tmp_path)
        assert report["refused"] is True  # custom code runs only when asked for
        assert report["model_module"].startswith("transformers_modules")
        assert report["model_class"] == self.model_class.__name__
        if processor is not None:
            assert report["processor_class"] == type(processor).__name__
        expected = self.outputs(model, processor, inputs)
        assert_same_outputs(torch.load(tmp_path / "outputs.pt", weights_only=True), expected)
        if self.postprocess:
            assert report["postprocessed"] == getattr(processor, self.postprocess)(expected["generated"])


class PipelineTesterMixin:
    """For the models that a `transformers.pipeline()` task of hf_pricer serves: the saved model names the task
    in `custom_pipelines`; `pipeline(task, model=folder)` answers with what the model computes, the same with and
    without batching; bad inputs get errors naming the input and field. (`ModelTesterMixin`'s fresh-process test
    also runs the pipeline through the code stored in a Hub repository.)"""

    def pipeline_inputs(self, folder) -> list[dict]:
        """A few pipeline inputs (JSON values; images as files written to `folder`)."""
        raise NotImplementedError

    def expected_pipeline_results(self, model, processor, folder) -> list[dict]:
        """What the pipeline must answer for `pipeline_inputs(folder)`, computed without it."""
        raise NotImplementedError

    bad_inputs: list[tuple[dict, str]] = []  # (input, a regex its error message must match)

    @property
    def pipeline_task(self) -> str:
        return self.model_class.pipeline_task

    @staticmethod
    def assert_same_results(actual: list[dict], expected: list[dict]) -> None:
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected):
            assert got.keys() == want.keys()
            for key, value in want.items():
                assert got[key] == (pytest.approx(value, rel=1e-4, abs=1e-6) if isinstance(value, float) else value)

    def test_pipeline(self, tmp_path):
        model, processor = self.save(tmp_path / "model")
        config = json.loads((tmp_path / "model" / "config.json").read_text())
        module, class_name = config["custom_pipelines"][self.pipeline_task]["impl"].split(".")
        assert (tmp_path / "model" / f"{module}.py").is_file()
        pipe = transformers.pipeline(self.pipeline_task, model=str(tmp_path / "model"))
        assert type(pipe).__name__ == class_name and type(pipe).__module__.startswith("hf_pricer.")
        inputs = self.pipeline_inputs(tmp_path)
        expected = self.expected_pipeline_results(model, processor, tmp_path)
        self.assert_same_results(pipe(inputs, batch_size=2), expected)
        self.assert_same_results([pipe(item) for item in inputs], expected)
        assert isinstance(pipe(inputs[0]), dict)
        for bad, message in self.bad_inputs:
            with pytest.raises((ValueError, TypeError), match=message):
                pipe([inputs[0], bad], batch_size=2)

    @pytest.mark.slow
    def test_remote_pipeline_in_a_fresh_process(self, hub_server, tmp_path):
        repo_id = self.repo_id("pipeline")
        model, processor = self.push(repo_id, tmp_path / "pushed")
        spec = {"repo_id": repo_id, "pipeline_inputs": self.pipeline_inputs(tmp_path),
                "report_file": str(tmp_path / "report.json")}
        report = run_remote_code(spec, tmp_path)
        assert report["pipeline_refused"] is True  # the stored code runs only when trusted
        assert report["pipeline_task"] == self.pipeline_task  # read from the repository's `custom_pipelines`
        assert report["pipeline_module"].startswith("transformers_modules")
        self.assert_same_results(report["pipeline_results"], self.expected_pipeline_results(model, processor, tmp_path))
