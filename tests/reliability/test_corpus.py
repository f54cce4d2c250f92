"""Every case of the bad-input corpus (`tests/reliability/corpus.py`) ends as the case says: a counted skip, a
note, an error naming the file, a refusal within twice its deadline, never a hang, an unlocated traceback or a
silent drop."""

import pytest

from tests.reliability.corpus import CASES, NETWORK_CASES, check_outcome, run_case
from tests.reliability.servers import HostileServer


def test_the_corpus_is_large_and_named_uniquely():
    names = [case.name for case in CASES + NETWORK_CASES]
    assert len(names) >= 60 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input(case, tmp_path):
    outcome = run_case(case, tmp_path)
    assert check_outcome(case, outcome) == []


@pytest.fixture(scope="module")
def server():
    with HostileServer() as running:
        yield running


@pytest.mark.parametrize("case", NETWORK_CASES, ids=lambda case: case.name)
def test_hostile_server(case, server, tmp_path):
    outcome = run_case(case, tmp_path, base_url=server.url)
    assert check_outcome(case, outcome) == []
