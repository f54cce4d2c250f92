"""Cross-fitting and stacking of price members, with the out-of-fold discipline a stacker needs.

A stacker that learns how much to trust each member must see each member's predictions on items that member
was not trained on; otherwise it trusts the member that memorised the training items most. :func:`cross_fit`
gives every member *out-of-fold* (OOF) predictions: the training items are split into k folds, and fold f is
predicted by the member trained on the other k - 1 folds. The member used afterwards is trained on every item.

Some members read other members' outputs (a gradient-boosting member reads a network's embeddings). Their OOF
predictions need those inputs to be label-free for every item involved: with `nested=True`, the member trained
for fold f reads, for a training item in fold g, the upstream member trained without folds f *and* g (one
upstream model per pair of folds), and for fold f's items the upstream member trained without fold f. No label
of fold f reaches its OOF predictions by any path. (`nested=False` reuses the upstream's OOF predictions for
the training items, which is cheaper but lets fold f's labels reach them through the upstream models trained
on fold f.)

:class:`NNLSStacker` then fits non-negative weights on the members' OOF log prices, and the price multiplier
that minimises the OOF SMAPE; :func:`nested_stack_predictions` estimates its own error by fitting it on k - 1
folds of the OOF rows and predicting the last. :func:`conformal_half_width` calibrates a prediction interval
on OOF rows.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Price multipliers tried by the stacker.
PRICE_MULTIPLIERS = tuple(round(0.85 + 0.01 * i, 2) for i in range(36))


def kfold_rows(num_rows: int, num_folds: int = 5, seed: int = 42) -> list[np.ndarray]:
    """The rows of each of `num_folds` folds of `range(num_rows)`, shuffled with `seed` (as scikit-learn's
    `KFold(num_folds, shuffle=True, random_state=seed)` splits them)."""
    from sklearn.model_selection import KFold

    if not 2 <= num_folds <= num_rows:
        raise ValueError(f"need 2 <= num_folds <= number of rows ({num_rows}), got {num_folds}")
    return [rows for _, rows in KFold(num_folds, shuffle=True, random_state=seed).split(np.arange(num_rows))]


@dataclass
class MemberPredictions:
    """A member's predictions for some rows: `log_price` `(n,)`, and when it has them, its quantile log prices
    `(n, num_quantiles)` and the embeddings its price head reads `(n, dim)`."""

    log_price: np.ndarray
    quantile_log_price: np.ndarray | None = None
    embeddings: np.ndarray | None = None

    @classmethod
    def empty(cls, num_rows: int, like: MemberPredictions) -> MemberPredictions:
        """NaN-filled predictions for `num_rows` rows, shaped like `like`."""

        def blank(array):
            return None if array is None else np.full((num_rows, *array.shape[1:]), np.nan, dtype=np.float64)

        return cls(blank(like.log_price), blank(like.quantile_log_price), blank(like.embeddings))

    def put(self, rows: np.ndarray, values: MemberPredictions) -> None:
        for name in ("log_price", "quantile_log_price", "embeddings"):
            target = getattr(self, name)
            if target is not None:
                target[rows] = getattr(values, name)

    def take(self, rows: np.ndarray) -> MemberPredictions:
        return MemberPredictions(*(None if a is None else a[rows] for a in self._arrays()))

    def _arrays(self):
        return self.log_price, self.quantile_log_price, self.embeddings


class MemberTrainer:
    """How one member is trained on some rows of the training items and predicts others.

    Subclasses set `name`, list in `upstream` the members whose predictions they read (which must come before
    them in the list given to :func:`cross_fit`, and read no member themselves), and implement `fit` and
    `predict`. `upstream` predictions arrive as `{name: MemberPredictions}` for exactly the rows concerned.
    """

    name: str = "member"
    upstream: tuple[str, ...] = ()

    def fit(self, rows: np.ndarray, upstream: Mapping[str, MemberPredictions]) -> Any:
        """Train on the training items `rows`; returns the fitted member."""
        raise NotImplementedError

    def predict(
        self, fitted: Any, rows: np.ndarray, upstream: Mapping[str, MemberPredictions]
    ) -> MemberPredictions:
        """Predict the items `rows` (of the same items, or of `fitted`'s own test items, see subclasses)."""
        raise NotImplementedError


@dataclass
class CrossFit:
    """What :func:`cross_fit` returns: per member, its OOF predictions for every training row, the member
    fitted on all rows, and the seconds spent."""

    folds: list[np.ndarray]
    oof: dict[str, MemberPredictions] = field(default_factory=dict)
    fitted: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def log_price_matrix(self, names: Sequence[str]) -> np.ndarray:
        """`(num_rows, len(names))` OOF log prices, what the stacker is fitted on."""
        return np.stack([self.oof[name].log_price for name in names], axis=1)


def _check_order(trainers: Sequence[MemberTrainer]) -> None:
    names = [trainer.name for trainer in trainers]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique, got {names}")
    reads = {trainer.name: trainer.upstream for trainer in trainers}
    for position, trainer in enumerate(trainers):
        for upstream in trainer.upstream:
            if upstream not in names[:position]:
                raise ValueError(
                    f"member {trainer.name!r} reads {upstream!r}, which must be a member listed before it"
                )
            if reads[upstream]:
                raise ValueError(
                    f"member {trainer.name!r} reads {upstream!r}, which itself reads "
                    f"{list(reads[upstream])}: only one level of members reading members is cross-fitted"
                )


def cross_fit(
    trainers: Sequence[MemberTrainer], num_rows: int, num_folds: int = 5, seed: int = 42, nested: bool = True
) -> CrossFit:
    """Out-of-fold predictions of every member for rows `0 .. num_rows - 1`, and each member fitted on all
    rows.

    Args:
        trainers: the members, upstream members first (see [`MemberTrainer`]).
        num_rows: the number of training items.
        num_folds, seed: the folds (:func:`kfold_rows`), the same for every member.
        nested: cross-fit members that read other members with one upstream model per pair of folds (see the
            module docstring); `False` is cheaper and leaks a little.
    """
    _check_order(trainers)
    folds = kfold_rows(num_rows, num_folds, seed)
    all_rows = np.arange(num_rows)
    result = CrossFit(folds=folds)
    read_by_others = {name for trainer in trainers for name in trainer.upstream}
    # upstream name → fold f → its predictions for the rows outside f, by models that saw neither f nor the
    # row's own fold
    training_inputs: dict[str, list[MemberPredictions]] = {}
    for trainer in trainers:
        start = time.perf_counter()
        name = trainer.name
        oof = None
        for position, rows in enumerate(folds):
            train_rows = np.setdiff1d(all_rows, rows)
            fitted = trainer.fit(train_rows, {up: training_inputs[up][position] for up in trainer.upstream})
            predicted = trainer.predict(
                fitted, rows, {up: result.oof[up].take(rows) for up in trainer.upstream}
            )
            oof = oof or MemberPredictions.empty(num_rows, predicted)
            oof.put(rows, predicted)
        result.oof[name] = oof
        if name in read_by_others:
            training_inputs[name] = _training_inputs(trainer, folds, oof, nested)
        result.fitted[name] = trainer.fit(all_rows, {up: result.oof[up] for up in trainer.upstream})
        result.seconds[name] = time.perf_counter() - start
        logger.info("cross-fitted %s in %.0f s", name, result.seconds[name])
    return result


def _training_inputs(
    trainer: MemberTrainer, folds, oof: MemberPredictions, nested: bool
) -> list[MemberPredictions]:
    """For each fold f, this (upstream) member's predictions for the rows outside f that a downstream member
    trained without f may read."""
    num_rows = len(oof.log_price)
    all_rows = np.arange(num_rows)
    outside = [np.setdiff1d(all_rows, rows) for rows in folds]
    if not nested:
        return [oof.take(rows) for rows in outside]
    inputs = [MemberPredictions.empty(num_rows, oof) for _ in folds]
    for f, g in combinations(range(len(folds)), 2):
        held_out = np.concatenate([folds[f], folds[g]])
        fitted = trainer.fit(np.setdiff1d(all_rows, held_out), {})
        for target, other in ((f, g), (g, f)):  # fold f's training inputs for fold g's rows, and vice versa
            inputs[target].put(folds[other], trainer.predict(fitted, folds[other], {}))
    return [inputs[f].take(outside[f]) for f in range(len(folds))]


# -- the stacker --------------------------------------------------------------------------------------------


def smape(prices: np.ndarray, predictions: np.ndarray) -> float:
    """SMAPE in percent (as `hf_pricer.metrics` computes it), on numpy arrays."""
    from hf_pricer.metrics.price import smape as price_smape

    return float(price_smape(predictions, prices))


@dataclass
class NNLSStacker:
    """`log1p(price) ≈ intercept + Σ weights[m] * member_m` with non-negative weights (least squares on
    centred columns, so the intercept is free), then `price = multiplier * expm1(...)` with the multiplier of
    `PRICE_MULTIPLIERS` that minimises SMAPE on the fitting rows."""

    weights: np.ndarray | None = None
    intercept: float = 0.0
    multiplier: float = 1.0

    def fit(self, member_log_prices: np.ndarray, prices: np.ndarray) -> NNLSStacker:
        from scipy.optimize import nnls

        columns = np.asarray(member_log_prices, dtype=np.float64)
        targets = np.log1p(np.asarray(prices, dtype=np.float64))
        column_means, target_mean = columns.mean(0), targets.mean()
        self.weights, _ = nnls(columns - column_means, targets - target_mean)
        self.intercept = float(target_mean - column_means @ self.weights)
        self.multiplier = 1.0
        base = self.predict(columns)
        errors = [smape(prices, multiplier * base) for multiplier in PRICE_MULTIPLIERS]
        self.multiplier = float(PRICE_MULTIPLIERS[int(np.argmin(errors))])
        return self

    def predict_log_price(self, member_log_prices: np.ndarray) -> np.ndarray:
        return np.asarray(member_log_prices, dtype=np.float64) @ self.weights + self.intercept

    def predict(self, member_log_prices: np.ndarray) -> np.ndarray:
        """Prices."""
        return self.multiplier * np.expm1(np.minimum(self.predict_log_price(member_log_prices), 80.0))


def nested_stack_predictions(member_log_prices: np.ndarray, prices: np.ndarray, folds) -> np.ndarray:
    """Each row's price from a stacker fitted on the other folds' rows: an honest estimate of the stack's
    error on unseen items (the members' OOF predictions being honest already)."""
    predictions = np.zeros(len(prices))
    all_rows = np.arange(len(prices))
    for rows in folds:
        fit_rows = np.setdiff1d(all_rows, rows)
        stacker = NNLSStacker().fit(member_log_prices[fit_rows], prices[fit_rows])
        predictions[rows] = stacker.predict(member_log_prices[rows])
    return predictions


def forward_select(
    names: Sequence[str], member_log_prices: np.ndarray, prices: np.ndarray, folds, min_gain: float = 0.05
) -> list[str]:
    """Greedy forward selection of members on the nested-CV SMAPE of the stack: add the member that lowers it
    most, while it drops by at least `min_gain` points."""
    chosen: list[int] = []
    best = math.inf
    while len(chosen) < len(names):
        scores = {}
        for candidate in set(range(len(names))) - set(chosen):
            columns = member_log_prices[:, [*chosen, candidate]]
            scores[candidate] = smape(prices, nested_stack_predictions(columns, prices, folds))
        candidate = min(scores, key=scores.get)
        if scores[candidate] > best - min_gain:
            break
        chosen.append(candidate)
        best = scores[candidate]
        logger.info("stack: + %s (nested CV SMAPE %.2f)", names[candidate], best)
    return [names[i] for i in chosen]


def conformal_half_width(
    center: np.ndarray, spread: np.ndarray, targets: np.ndarray, coverage: float
) -> float:
    """The margin `m` such that `center ± m * spread` covers `coverage` of held-out `targets`
    (split-conformal: the `ceil((n + 1) * coverage)`-th smallest `|target - center| / spread`)."""
    from hf_pricer.modeling_utils import conformal_quantile

    spread = np.maximum(np.asarray(spread, dtype=np.float64), 1e-6)
    return conformal_quantile(np.abs(np.asarray(targets, dtype=np.float64) - center) / spread, coverage)


__all__ = [
    "PRICE_MULTIPLIERS",
    "CrossFit",
    "MemberPredictions",
    "MemberTrainer",
    "NNLSStacker",
    "conformal_half_width",
    "cross_fit",
    "forward_select",
    "kfold_rows",
    "nested_stack_predictions",
]
