"""Cross-fitting (`hf_pricer.stacking`): the stacker never sees a member's prediction of an item from a model
that was trained on that item, directly or through the members it reads. Members here are instrumented
stand-ins that record every model's training items and predict 1 for an item their model (or its inputs'
models) saw, else 0."""

import numpy as np
import pytest

from hf_pricer.stacking import (
    MemberPredictions,
    MemberTrainer,
    NNLSStacker,
    conformal_half_width,
    cross_fit,
    forward_select,
    kfold_rows,
    nested_stack_predictions,
)


class RecordingNetwork(MemberTrainer):
    """Like a network: its embedding of an item is the id of the model that computed it."""

    def __init__(self, name, registry):
        self.name, self.registry = name, registry

    def fit(self, rows, upstream):
        self.registry.append(set(rows.tolist()))
        return len(self.registry) - 1

    def predict(self, fitted, rows, upstream):
        seen = self.registry[fitted]
        return MemberPredictions(
            log_price=np.array([float(row in seen) for row in rows]),
            embeddings=np.full((len(rows), 1), float(fitted)),
        )


class RecordingBooster(MemberTrainer):
    """Like gradient boosting on the network's embeddings: its model has seen its own training items and every
    item behind the embeddings it was trained on; so does its prediction of an item through that item's
    embedding."""

    def __init__(self, name, registry, reads):
        self.name, self.registry, self.upstream = name, registry, (reads,)

    def _behind(self, predictions):
        return set().union(*(self.registry[int(model)] for model in np.unique(predictions.embeddings[:, 0])))

    def fit(self, rows, upstream):
        self.registry.append(set(rows.tolist()) | self._behind(upstream[self.upstream[0]]))
        return len(self.registry) - 1

    def predict(self, fitted, rows, upstream):
        inputs = upstream[self.upstream[0]]
        seen = [
            row in self.registry[fitted] or row in self.registry[int(model)]
            for row, model in zip(rows, inputs.embeddings[:, 0])
        ]
        return MemberPredictions(log_price=np.array(seen, dtype=float))


def members(registry):
    return [RecordingNetwork("network", registry), RecordingBooster("booster", registry, "network")]


def test_out_of_fold_predictions_never_come_from_a_model_that_saw_the_item():
    registry = []
    crossed = cross_fit(members(registry), num_rows=40, num_folds=5, seed=0, nested=True)
    assert crossed.log_price_matrix(["network", "booster"]).sum() == 0
    # the members used afterwards are trained on every item
    assert registry[crossed.fitted["network"]] == set(range(40))
    assert registry[crossed.fitted["booster"]] == set(range(40))


def test_the_check_catches_labels_reaching_a_member_through_its_inputs():
    registry = []
    crossed = cross_fit(members(registry), num_rows=40, num_folds=5, seed=0, nested=False)
    leaks = crossed.log_price_matrix(["network", "booster"])
    assert leaks[:, 0].sum() == 0 and leaks[:, 1].sum() > 0


def test_the_stacker_of_the_ensemble_sees_only_out_of_fold_predictions(monkeypatch):
    from hf_pricer import TabularFeatures
    from hf_pricer import ensemble as ensemble_module

    class ExportedNetwork(RecordingNetwork):
        def spec(self, fitted):
            return {"name": self.name, "kind": "linear"}

        def load_member(self, module, fitted):
            pass

    class ExportedBooster(RecordingBooster):
        spec, load_member = ExportedNetwork.spec, ExportedNetwork.load_member

    seen_by_stacker = []

    class RecordingStacker(NNLSStacker):
        def fit(self, member_log_prices, prices):
            seen_by_stacker.append(np.array(member_log_prices))
            return super().fit(member_log_prices, prices)

    monkeypatch.setattr(ensemble_module, "NNLSStacker", RecordingStacker)
    items = [
        {"title": f"Filter, pack of {i % 5 + 1}", "text": f"{i} watts", "price": 10.0 + i} for i in range(30)
    ]
    data = ensemble_module.EnsembleData.prepare(items, TabularFeatures(["quantities"], []), char_ngrams=False)
    registry = []
    trainers = [ExportedNetwork("network", registry), ExportedBooster("booster", registry, "network")]
    model, _, report = ensemble_module.fit_price_ensemble(trainers, data, num_folds=3, seed=1)
    assert seen_by_stacker and all(matrix.sum() == 0 for matrix in seen_by_stacker)
    assert [spec["name"] for spec in model.config.members] == ["network", "booster"]


def test_members_must_come_after_what_they_read():
    registry = []
    with pytest.raises(ValueError, match="listed before"):
        cross_fit(members(registry)[::-1], num_rows=10, num_folds=2)


def test_kfold_rows_partition_the_rows():
    folds = kfold_rows(23, 4, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(23)) and len(folds) == 4
    with pytest.raises(ValueError, match="num_folds"):
        kfold_rows(3, 5)


def test_nnls_stacker_recovers_non_negative_weights():
    rng = np.random.default_rng(0)
    good, noisy = rng.normal(3, 1, 500), rng.normal(3, 1, 500)
    prices = np.expm1(0.2 + 0.9 * good)
    stacker = NNLSStacker().fit(np.stack([good, noisy, -good], axis=1), prices)
    assert stacker.weights[0] == pytest.approx(0.9, abs=1e-6) and stacker.intercept == pytest.approx(
        0.2, abs=1e-6
    )
    assert stacker.weights[1] == pytest.approx(0, abs=0.01) and stacker.weights[2] == 0  # never negative
    assert stacker.multiplier == pytest.approx(1.0, abs=0.011)
    folds = kfold_rows(500, 5)
    nested = nested_stack_predictions(np.stack([good, noisy], axis=1), prices, folds)
    np.testing.assert_allclose(nested, prices, rtol=0.02)
    assert forward_select(["good", "noisy"], np.stack([good, noisy], axis=1), prices, folds) == ["good"]


def test_conformal_half_width_covers_new_items():
    rng = np.random.default_rng(1)
    center, targets = np.zeros(4000), rng.normal(0, 1, 4000)
    margin = conformal_half_width(center[:2000], np.ones(2000), targets[:2000], 0.8)
    assert margin == pytest.approx(1.2816, abs=0.08)  # the normal's 90th percentile
    assert np.mean(np.abs(targets[2000:]) <= margin) == pytest.approx(0.8, abs=0.03)
