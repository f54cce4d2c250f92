import pytest

from .test_train_classifier import train_classifiers


@pytest.fixture(scope="session")
def stage_one(tmp_path_factory):
    """The two classifiers of stage 1, trained once for the tests of both stages: `(folder, trainers)`."""
    folder = tmp_path_factory.mktemp("stage_one")
    return folder, train_classifiers(folder)
