import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import HashingVectorizer
from transformers import AutoFeatureExtractor

from hf_pricer import ResidualRegressorCollator, ResidualRegressorProcessor


def test_defaults_match_the_design_vectorizer():
    texts = ["Stainless steel kettle 1.7 litre", "Oak frame"]
    vectorizer = HashingVectorizer(n_features=5000, stop_words="english", binary=True)
    expected = vectorizer.transform(texts).toarray().astype(np.float32)
    features = ResidualRegressorProcessor()(texts)["input_features"]
    assert features.shape == (2, 5000) and features.dtype == torch.float32
    np.testing.assert_allclose(features.numpy(), expected)


def test_sparse_output_describes_the_dense_vector():
    processor = ResidualRegressorProcessor(n_features=128)
    texts = ["red kettle steel", "kettle", "the of and"]
    dense = processor(texts)["input_features"]
    sparse = processor(texts, sparse=True)
    rebuilt = torch.zeros_like(dense)
    rebuilt.scatter_add_(1, sparse["feature_ids"], sparse["feature_weights"])
    torch.testing.assert_close(rebuilt, dense)
    assert sparse["feature_weights"][2].abs().sum() == 0  # stop words only


def test_save_and_load_roundtrip(tmp_path):
    processor = ResidualRegressorProcessor(n_features=256, stop_words=None, ngram_range=(1, 2), text_fields=["text"])
    processor.save_pretrained(tmp_path)
    loaded = ResidualRegressorProcessor.from_pretrained(tmp_path)
    assert loaded.n_features == 256 and loaded.ngram_range == [1, 2] and loaded.text_fields == ["text"]
    assert "_vectorizer" not in (tmp_path / "preprocessor_config.json").read_text()
    text = "the cordless drill with two batteries"
    torch.testing.assert_close(loaded(text)["input_features"], processor(text)["input_features"])
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path)) is ResidualRegressorProcessor


def test_item_text_joins_configured_fields():
    processor = ResidualRegressorProcessor(text_fields=["title", "text"])
    assert processor.item_text({"title": "Kettle", "text": "Boils fast", "category": "x"}) == "Kettle\nBoils fast"
    assert processor.item_text({"title": "", "text": "Only text"}) == "Only text"


def test_non_string_text_is_rejected_with_position():
    with pytest.raises(TypeError, match=r"text\[1\]"):
        ResidualRegressorProcessor()(["ok", None])


def test_collator_builds_labels_and_both_input_kinds():
    items = [{"title": "Kettle", "text": "steel", "price": 25.0}, {"title": "Box", "text": "plastic", "price": 3.5}]
    dense = ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64))(items)
    sparse = ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64), sparse=True)(items)
    assert dense["input_features"].shape == (2, 64)
    assert set(sparse) == {"feature_ids", "feature_weights", "labels"}
    torch.testing.assert_close(dense["labels"], torch.tensor([25.0, 3.5]))
    unlabelled = ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64))([{"title": "x", "text": "y"}])
    assert "labels" not in unlabelled
