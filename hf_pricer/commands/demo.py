"""`hf-pricer demo PATH_OR_REPO`: a web page (Gradio, as Hub Spaces run) to try a saved model; `--space DIR`
writes a ready Space folder instead.

    hf-pricer demo outputs/dual-catalog                  # title, description, optional image → price
    hf-pricer demo outputs/resformer-labels              # image + entity name → "500.0 gram"
    hf-pricer demo you/dual-pricer --space my-space      # app.py, requirements.txt, README.md (sdk: gradio)

The model is served through its `transformers.pipeline()` task (`hf_pricer.pipelines`), so anything the pipeline
accepts works here. Gradio comes with the `demo` extra: `pip install "hf_pricer[demo]"`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

DEMO_EXTRA = 'pip install "hf_pricer[demo]"'
PRICE_TASK, ENTITY_TASK = "price-regression", "entity-value-extraction"


def _gradio():
    try:
        import gradio
    except ImportError as error:
        raise ImportError(f"`hf-pricer demo` needs Gradio: {DEMO_EXTRA}") from error
    return gradio


def pipeline_task(model: str) -> str:
    """The hf_pricer pipeline task of a saved model (folder or Hub repository), from its `custom_pipelines`."""
    from transformers import PreTrainedConfig

    config, _ = PreTrainedConfig.get_config_dict(model)
    tasks = [task for task in config.get("custom_pipelines") or {} if task in (PRICE_TASK, ENTITY_TASK)]
    if not tasks:
        raise ValueError(
            f"{model!r} is not an hf_pricer price model or Resformer: its config.json names no "
            f"{PRICE_TASK!r} or {ENTITY_TASK!r} pipeline (models saved with hf_pricer do)"
        )
    return tasks[0]


def build_demo(model: str, title: str | None = None, description: str | None = None):
    """A `gradio.Blocks` page for a saved price model (title, description, optional image → price) or Resformer
    (image + entity name → value). Call `.launch()` on it."""
    gr = _gradio()
    import transformers

    import hf_pricer  # noqa: F401 -- registers the models and their pipelines

    task = pipeline_task(model)
    pipe = transformers.pipeline(task, model=model)
    name = os.path.basename(os.path.normpath(model)) if os.path.isdir(model) else model
    with gr.Blocks(title=title or name) as demo:
        gr.Markdown(f"# {title or name}")
        if task == PRICE_TASK:
            gr.Markdown(description or f"Price a product with `{name}` ({type(pipe.model).__name__}): give its title "
                        "and description, and optionally a photo.")
            with gr.Row():
                with gr.Column():
                    product_title = gr.Textbox(label="Title", elem_id="title")
                    product_text = gr.Textbox(label="Description", lines=4, elem_id="text")
                    image = gr.Image(label="Image (optional)", type="pil", elem_id="image",
                                     visible=pipe.reads_images)
                    button = gr.Button("Predict the price", variant="primary", elem_id="predict")
                price = gr.Textbox(label="Predicted price", elem_id="price")

            def predict(product_title, product_text, image):
                try:
                    return f"${pipe({'title': product_title, 'text': product_text, 'image': image})['price']:,.2f}"
                except (ValueError, TypeError) as error:
                    raise gr.Error(str(error)) from None

            button.click(predict, [product_title, product_text, image], price)
        else:
            entity_names = list(pipe.item_processor.tokenizer.entity_names)
            gr.Markdown(description or f"Read an entity's value off a product image with `{name}`.")
            with gr.Row():
                with gr.Column():
                    image = gr.Image(label="Product image", type="pil", elem_id="image")
                    entity = gr.Dropdown(entity_names, value=entity_names[0], label="Entity", elem_id="entity")
                    button = gr.Button("Read the value", variant="primary", elem_id="predict")
                value = gr.Textbox(label="Value", elem_id="value")

            def read(image, entity):
                try:
                    return pipe({"image": image, "entity_name": entity})["entity_value"] or "(no value shown)"
                except (ValueError, TypeError) as error:
                    raise gr.Error(str(error)) from None

            button.click(read, [image, entity], value)
    return demo


_APP = '''"""A Gradio demo of {model_name}, written by `hf-pricer demo --space`."""

from hf_pricer.commands.demo import build_demo

build_demo({model!r}, title={title!r}).launch()
'''

_README = """---
title: {title}
sdk: gradio
sdk_version: {sdk_version}
app_file: app.py
pinned: false
{models}---

# {title}

A web page to try `{model_name}`, a model trained with [hf_pricer](https://github.com/hf-pricer/hf_pricer).
Run it locally with `pip install -r requirements.txt && python app.py`.
"""


def write_space(model: str, folder: str, title: str | None = None) -> str:
    """A Hub Space folder for `model`: `app.py`, `requirements.txt` and a README with `sdk: gradio` front matter. A
    local model folder is copied into `folder/model`; a Hub repository is loaded by its id. Returns `folder`."""
    gr = _gradio()
    pipeline_task(model)  # fail here, not on the Space, when the model is not one the demo serves
    os.makedirs(folder, exist_ok=True)
    local = os.path.isdir(model)
    model_name = os.path.basename(os.path.normpath(model)) if local else model
    if local:
        shutil.copytree(model, os.path.join(folder, "model"), dirs_exist_ok=True)
    title = title or model_name
    with open(os.path.join(folder, "app.py"), "w", encoding="utf-8") as handle:
        handle.write(_APP.format(model_name=model_name, model="model" if local else model, title=title))
    with open(os.path.join(folder, "requirements.txt"), "w", encoding="utf-8") as handle:
        handle.write("hf_pricer[demo] @ git+https://github.com/hf-pricer/hf_pricer\n")
    models = "" if local else f"models:\n  - {model}\n"
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(_README.format(title=title, sdk_version=gr.__version__, models=models, model_name=model_name))
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hf-pricer demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a saved model's folder or Hub repository (price model or Resformer)")
    parser.add_argument("--space", metavar="DIR", help="write a Hub Space folder to DIR instead of serving the page")
    parser.add_argument("--title", help="the page's title (default: the model's name)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    try:
        if args.space:
            print(f"wrote the Space folder {write_space(args.model, args.space, args.title)}")
            return 0
        build_demo(args.model, args.title).launch(server_name=args.host, server_port=args.port)
    except (ImportError, ValueError, OSError) as error:
        print(f"hf-pricer demo: error: {error}", file=sys.stderr)
        return 2
    return 0
