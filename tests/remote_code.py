"""Load a model from the Hub through the code stored next to its weights, as a user without hf_pricer imported
does, and write what it computes. `tests/test_modeling_common.py` runs it in a fresh process:

    python tests/remote_code.py SPEC.json

SPEC is a JSON object: `repo_id`; `auto_class`, the name of the Auto class the model is registered for remote
code with; `processor_auto_class` and `processor_inputs` (keyword arguments of the processor) for a model
that has a processor, or `inputs_file` (`torch.save`d keyword tensors) for one that has not;
`generate_kwargs`, to compare generated ids rather than the forward outputs; `postprocess`, a processor
method applied to the generated ids; `outputs_file` and `report_file`, where the tensors and a JSON report
go. A SPEC with `pipeline_inputs` (and `repo_id`, `report_file`) checks `pipeline(model=repo_id,
trust_remote_code=True)` instead, as a user's first call in a fresh process: the task comes from the
repository's `custom_pipelines`, and the results of `batch_size=2` go into the report. This file imports torch and transformers only, so that the test process can compute its reference
outputs with the same :func:`model_outputs`.
"""

import json
import sys

import torch
import transformers


def model_outputs(model, inputs, generate_kwargs=None) -> dict[str, torch.Tensor]:
    """The tensors a round trip must keep: the generated ids when `generate_kwargs` is given, else every
    tensor of the forward output."""
    with torch.no_grad():
        if generate_kwargs is not None:
            return {"generated": model.generate(**inputs, **generate_kwargs)}
        outputs = model(**inputs)
    return {name: value for name, value in outputs.items() if isinstance(value, torch.Tensor)}


def pipeline_report(repo_id: str, inputs: list) -> dict:
    """What `pipeline()` does with the repository: refuses its code unless trusted, then answers `inputs`."""
    try:
        transformers.pipeline(model=repo_id)
        refused = False
    except (ValueError, RuntimeError):  # the code is not run: the task stays unknown, or trust is asked for
        refused = True
    pipe = transformers.pipeline(model=repo_id, trust_remote_code=True)
    return {
        "pipeline_refused": refused,
        "pipeline_task": pipe.task,
        "pipeline_module": type(pipe).__module__,
        "pipeline_results": pipe(inputs, batch_size=2),
    }


def main(spec_file: str) -> None:
    # The point of the check: nothing of hf_pricer is imported except what the repository's code imports.
    assert "hf_pricer" not in sys.modules
    with open(spec_file) as handle:
        spec = json.load(handle)
    repo_id = spec["repo_id"]
    if "pipeline_inputs" in spec:
        with open(spec["report_file"], "w") as handle:
            json.dump(pipeline_report(repo_id, spec["pipeline_inputs"]), handle)
        return
    auto_class = getattr(transformers, spec["auto_class"])
    try:
        auto_class.from_pretrained(repo_id)
        refused = False
    except ValueError as error:
        refused = "trust_remote_code" in str(error)
    model = auto_class.from_pretrained(repo_id, trust_remote_code=True).eval()
    report = {"refused": refused, "model_module": type(model).__module__, "model_class": type(model).__name__}
    processor = None
    if spec.get("processor_auto_class"):
        processor_auto_class = getattr(transformers, spec["processor_auto_class"])
        processor = processor_auto_class.from_pretrained(repo_id, trust_remote_code=True)
        report["processor_class"] = type(processor).__name__
        inputs = processor(**spec["processor_inputs"])
    else:
        inputs = torch.load(spec["inputs_file"], weights_only=True)
    outputs = model_outputs(model, inputs, spec.get("generate_kwargs"))
    if spec.get("postprocess"):
        report["postprocessed"] = getattr(processor, spec["postprocess"])(outputs["generated"])
    torch.save(outputs, spec["outputs_file"])
    with open(spec["report_file"], "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(sys.argv[1])
