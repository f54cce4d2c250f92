"""`hf-pricer demo`: the Gradio page answers in a real browser (headless Chromium driven by Selenium), and
`--space` writes a Space folder."""

import os
import shutil

import pytest
import torch
from PIL import Image
from transformers import pipeline

from hf_pricer import ResidualRegressorConfig, ResidualRegressorForPriceRegression, ResidualRegressorProcessor
from hf_pricer.commands import demo as demo_command
from tests.models.resformer.test_modeling_resformer import tiny_model
from tests.models.resformer.test_processing_resformer import tiny_processor
from tests.utils import free_port, write_images

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def price_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("price_model")
    torch.manual_seed(0)
    config = ResidualRegressorConfig(num_features=64, num_layers=3, hidden_size=16, log_price_mean=3.0, log_price_std=1.0)
    ResidualRegressorForPriceRegression(config).eval().save_pretrained(folder)
    ResidualRegressorProcessor(n_features=64).save_pretrained(folder)
    return str(folder)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="no headless browser: `apt-get install chromium chromium-driver` (.ci/run does)")
def test_page_prices_what_is_typed_in_a_browser(price_model):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    item = {"title": "Stainless steel kettle", "text": "1.7 litre, 2200 W, keep-warm plate"}
    expected = f"${pipeline('price-regression', model=price_model)(item)['price']:,.2f}"
    page = demo_command.build_demo(price_model, title="Kettle pricer")
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#title textarea"))
        assert "Kettle pricer" in browser.page_source
        browser.find_element(By.CSS_SELECTOR, "#title textarea").send_keys(item["title"])
        browser.find_element(By.CSS_SELECTOR, "#text textarea").send_keys(item["text"])
        browser.find_element(By.CSS_SELECTOR, "#predict").click()
        price = wait.until(lambda driver: driver.find_element(By.CSS_SELECTOR, "#price textarea").get_attribute("value"))
        assert price == expected
    finally:
        browser.quit()
        page.close()


def test_space_folder_for_a_local_model(price_model, tmp_path):
    assert demo_command.main([price_model, "--space", str(tmp_path / "space"), "--title", "Kettle pricer"]) == 0
    space = tmp_path / "space"
    readme = (space / "README.md").read_text()
    assert readme.startswith("---\ntitle: Kettle pricer\nsdk: gradio\n") and "app_file: app.py" in readme
    assert "build_demo('model', title='Kettle pricer').launch()" in (space / "app.py").read_text()
    assert "hf_pricer[demo]" in (space / "requirements.txt").read_text()
    assert (space / "model" / "model.safetensors").is_file() and (space / "model" / "price_regression.py").is_file()


def test_a_model_without_an_hf_pricer_pipeline_is_refused(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert demo_command.main([str(tmp_path), "--space", str(tmp_path / "space")]) == 2
    assert "is not an hf_pricer price model or Resformer" in capsys.readouterr().err


def test_resformer_page_reads_an_image_for_the_chosen_entity(tmp_path):
    tiny_model(3).save_pretrained(tmp_path / "resformer")
    tiny_processor(size=32).save_pretrained(tmp_path / "resformer")
    page = demo_command.build_demo(str(tmp_path / "resformer"))
    (read,) = [function.fn for function in page.fns.values()]
    image = write_images(tmp_path, 1)[0]
    expected = pipeline("entity-value-extraction", model=str(tmp_path / "resformer"))(
        {"image": image, "entity_name": "voltage"})["entity_value"]
    assert read(Image.open(image), "voltage") == (expected or "(no value shown)")
