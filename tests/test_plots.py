"""The figures of `hf_pricer.plots`: retrieval examples, similarity histograms and predicted-vs-true
prices."""

import numpy as np
from PIL import Image

from hf_pricer.plots import save_price_plot, save_retrieval_figure, save_similarity_histogram
from tests.utils import is_png


def test_figures_are_written(tmp_path):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    images = [Image.new("RGB", (40, 30), colour) for colour in colours]
    path = save_retrieval_figure(tmp_path / "examples.png", ["a red thing", "a blue thing"], np.array([[0, 1], [2, 0]]),
                                 [0, 2], [1, 1], image=lambda row: images[row])
    assert is_png(path) and (tmp_path / "examples.png").stat().st_size > 5000
    with Image.open(path) as figure:
        assert figure.size[0] > figure.size[1]  # 3 columns of 2 rows
    path = save_similarity_histogram(tmp_path / "hist.png", np.random.rand(50), np.random.rand(50) - 0.5)
    assert is_png(path) and (tmp_path / "hist.png").stat().st_size > 5000


def test_price_plot_is_written(tmp_path):
    path = save_price_plot([10.0, 22.0, 180.0], [12.0, 20.0, 150.0], str(tmp_path / "prices.png"))
    assert is_png(path) and (tmp_path / "prices.png").stat().st_size > 5000
