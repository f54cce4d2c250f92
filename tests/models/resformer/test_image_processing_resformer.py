from hf_pricer import ResformerImageProcessor


def test_training_transform_is_mild_and_never_mirrors():
    image_processor = ResformerImageProcessor(size=64)
    steps = [type(step).__name__ for step in image_processor.transform(train=True).transforms]
    assert "RandomHorizontalFlip" not in steps
    assert image_processor.rotation_degrees <= 3
