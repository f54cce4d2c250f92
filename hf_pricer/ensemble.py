"""Fitting a [`PriceEnsembleForPriceRegression`]: its members, their out-of-fold predictions and the stacker.

    data = EnsembleData.prepare(train_items, TabularFeatures(["quantities", "text_embedding"]))
    members = [
        PriceModelTrainer("residual", data, ResidualRegressorForPriceRegression, config, processor,
                          ResidualRegressorCollator, training_args),
        LinearTrainer("linear", data),
        GradientBoostingTrainer("boosting", data, embeddings_of=["residual"],
                                predictions_of=["residual", "linear"]),
    ]
    model, processor, report = fit_price_ensemble(members, data)

:class:`EnsembleData` prepares the training items once, without their prices: the tabular features, the word
and character TF-IDF of their text and the SVD of the word TF-IDF, all fitted on the training items' text
(never on their labels). Each member is a [`hf_pricer.stacking.MemberTrainer`]; :func:`fit_price_ensemble`
cross-fits them ([`hf_pricer.stacking.cross_fit`]), fits the stacker and the interval on their out-of-fold
predictions, and puts the members trained on every item into one model and one processor, which save and load
like any other.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .feature_extraction_utils import (
    CATEGORICAL_COLUMN,
    NUMERIC_COLUMN,
    TabularFeatures,
    TfidfText,
    padded_sparse_rows,
)
from .metrics.price import price_metrics
from .stacking import (
    MemberPredictions,
    MemberTrainer,
    NNLSStacker,
    conformal_half_width,
    cross_fit,
    forward_select,
    nested_stack_predictions,
)

logger = logging.getLogger(__name__)

#: LightGBM settings of the gradient-boosting member: those 5-fold cross-validation inside the appliances
#: training split picks for the LightGBM baseline of `benchmarks/price_real.py`.
GRADIENT_BOOSTING_PARAMS = {
    "objective": "huber",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.3,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
}


@dataclass
class EnsembleData:
    """The training items and what every member reads of them, computed once (no prices involved).

    Attributes:
        items: the training items (a `datasets.Dataset` with the tabular feature columns added).
        prices: their prices, `(num_items,)`.
        tabular: the fitted [`TabularFeatures`] (the linear and gradient-boosting members read its columns;
            price-model members with the same features reuse the columns).
        word, char: the fitted word and character n-gram [`TfidfText`]; their matrices `word_matrix`,
            `char_matrix` (scipy CSR, one row per item).
        svd_components: `(word.size, k)`, the word TF-IDF's truncated SVD; `svd_features`, `(num_items, k)`.
        use_details: whether the TF-IDF text includes the `details` attributes.
    """

    items: Any
    prices: np.ndarray
    tabular: TabularFeatures
    word: TfidfText
    char: TfidfText | None
    word_matrix: Any
    char_matrix: Any
    svd_components: np.ndarray
    svd_features: np.ndarray
    use_details: bool = True
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def prepare(
        cls,
        items,
        tabular: TabularFeatures,
        svd_components: int = 64,
        char_ngrams: bool = True,
        use_details: bool = True,
    ) -> EnsembleData:
        """Fit the tabular features, the TF-IDF vectorizers and the SVD on `items` (a `datasets.Dataset` of
        training items, or a list of them) and compute their values for every item."""
        from datasets import Dataset
        from sklearn.decomposition import TruncatedSVD

        from .models.price_ensemble import PriceEnsembleProcessor

        start = time.perf_counter()
        items = items if isinstance(items, Dataset) else Dataset.from_list(list(items))
        records = items.to_list()
        inputs = tabular.fit_transform(records)
        for column in (NUMERIC_COLUMN, CATEGORICAL_COLUMN):
            items = items.remove_columns([column]) if column in items.column_names else items
            items = items.add_column(column, inputs[column].tolist())
        seconds = {"tabular": time.perf_counter() - start}
        start = time.perf_counter()
        text_of = PriceEnsembleProcessor(use_details=use_details).item_text
        texts = [text_of(item) for item in records]
        word = TfidfText("word", (1, 2), min_df=2, max_df=0.9, stop_words="english").fit(texts)
        char = None
        if char_ngrams:
            char = TfidfText("char_wb", (2, 5), min_df=3, max_df=1.0, max_features=150_000, stop_words=None)
            char.fit(texts)
        word_matrix = word.transform(texts)
        # TruncatedSVD needs fewer components than terms and items; a tiny vocabulary gets none.
        components = min(svd_components, word.size - 1, len(records) - 1)
        projection = np.zeros((word.size, 0), dtype=np.float32)
        if components >= 1:
            projection = (
                TruncatedSVD(components, random_state=0).fit(word_matrix).components_.T.astype(np.float32)
            )
        seconds["text"] = time.perf_counter() - start
        return cls(
            items=items,
            prices=np.asarray(items["price"], dtype=np.float64),
            tabular=tabular,
            word=word,
            char=char,
            word_matrix=word_matrix,
            char_matrix=None if char is None else char.transform(texts),
            svd_components=projection,
            svd_features=_text_components(word_matrix, projection),
            use_details=use_details,
            seconds=seconds,
        )

    @property
    def numeric(self) -> np.ndarray:
        return np.asarray(self.items[NUMERIC_COLUMN], dtype=np.float64).reshape(len(self.prices), -1)

    @property
    def categorical(self) -> np.ndarray:
        return np.asarray(self.items[CATEGORICAL_COLUMN], dtype=np.int64).reshape(len(self.prices), -1)


def _text_components(word_matrix, projection: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The word TF-IDF rows projected on the SVD components, computed exactly as the exported member does."""
    from .models.price_ensemble.modeling_price_ensemble import sparse_dot

    weight = torch.from_numpy(projection)
    parts = []
    for start in range(0, word_matrix.shape[0], batch_size):
        ids, values = padded_sparse_rows(word_matrix[start : start + batch_size])
        parts.append(sparse_dot(weight, torch.from_numpy(ids), torch.from_numpy(values)).numpy())
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, projection.shape[1]))


# -- members ------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class PriceModelTrainer(MemberTrainer):
    """An hf_pricer price model as a member, trained with [`PricerTrainer`].

    Args:
        name: the member's name.
        data: the prepared training items.
        model_class: e.g. [`ResidualRegressorForPriceRegression`].
        config: its config; `log_price_mean`/`log_price_std` are set from each fit's own rows.
        processor: its processor (with `tabular_features` for a model whose config names them).
        collator_class: the model's data collator, built as `collator_class(processor)`.
        training_args: [`PricerTrainingArguments`] of every fit (`output_dir` is replaced by a temporary
        folder).
    """

    name: str = field()  # required: `MemberTrainer.name` would otherwise be its default
    data: EnsembleData
    model_class: type
    config: Any
    processor: Any
    collator_class: type
    training_args: Any

    def fit(self, rows: np.ndarray, upstream: Mapping[str, MemberPredictions]):
        from .data import log_price_statistics
        from .trainer import PricerTrainer

        train_items = self.data.items.select(rows)
        config = copy.deepcopy(self.config)
        config.log_price_mean, config.log_price_std = log_price_statistics(train_items)
        torch.manual_seed(self.training_args.seed)
        model = self.model_class(config)
        with tempfile.TemporaryDirectory() as output_dir:
            args = copy.deepcopy(self.training_args)
            args.output_dir = output_dir
            trainer = PricerTrainer(
                model=model,
                args=args,
                train_dataset=train_items,
                data_collator=self.collator_class(self.processor),
                processing_class=self.processor,
            )
            trainer.train()
        return model.eval()

    @torch.inference_mode()
    def predict(
        self, fitted, rows: np.ndarray, upstream: Mapping[str, MemberPredictions], batch_size: int = 256
    ):
        items = self.data.items.select(rows).to_list()
        parts = []
        for start in range(0, len(items), batch_size):
            inputs = self.processor.process_items(items[start : start + batch_size])
            hidden = fitted.get_price_embeddings(**inputs)
            outputs = fitted.price_outputs_from_embeddings(hidden)
            parts.append((outputs.log_price, outputs.quantile_log_price, hidden))
        log_price, quantiles, embeddings = (
            None if parts[0][i] is None else torch.cat([part[i] for part in parts]).float().numpy()
            for i in range(3)
        )
        return MemberPredictions(log_price, quantiles, embeddings)

    def spec(self, fitted) -> dict:
        return {"name": self.name, "kind": "price_model", "config": fitted.config.to_dict()}

    def load_member(self, module, fitted) -> None:
        module.load_state_dict(fitted.state_dict())


class LinearTrainer(MemberTrainer):
    """A ridge regression of `log1p(price)` on the word and character TF-IDF and the numeric features (their
    standardized values, 0 where missing, and a missing indicator per feature), with the block weights and the
    ridge penalty chosen by cross-validation on the training items (`select`)."""

    def __init__(
        self,
        name: str,
        data: EnsembleData,
        alphas: Sequence[float] = (0.3, 1.0, 3.0),
        char_weights: Sequence[float] = (0.5, 1.0),
        feature_weights: Sequence[float] = (0.05, 0.1, 0.2),
    ):
        self.name = name
        self.data = data
        self.grid = [
            (a, c, f)
            for a in alphas
            for c in (char_weights if data.char is not None else (0.0,))
            for f in feature_weights
        ]
        self.alpha, self.char_weight, self.feature_weight = self.grid[0]
        numeric = data.numeric
        missing = np.isnan(numeric)
        self._dense = np.hstack([np.where(missing, 0.0, numeric), missing.astype(np.float64)])
        self.selection: list[tuple[tuple[float, float, float], float]] = []

    def _matrix(self, rows: np.ndarray, char_weight: float, feature_weight: float):
        import scipy.sparse as sp

        blocks = [self.data.word_matrix[rows]]
        if self.data.char_matrix is not None:
            blocks.append(char_weight * self.data.char_matrix[rows])
        blocks.append(sp.csr_matrix(feature_weight * self._dense[rows]))
        return sp.hstack(blocks).tocsr()

    def select(self, folds: Sequence[np.ndarray]) -> tuple[float, float, float]:
        """Pick `(alpha, char_weight, feature_weight)` of the grid with the lowest cross-validated SMAPE."""
        from sklearn.linear_model import Ridge

        from .stacking import smape

        targets = np.log1p(self.data.prices)
        all_rows = np.arange(len(targets))
        self.selection = []
        for alpha, char_weight, feature_weight in self.grid:
            matrix = self._matrix(all_rows, char_weight, feature_weight)
            predicted = np.zeros(len(targets))
            for rows in folds:
                train_rows = np.setdiff1d(all_rows, rows)
                predicted[rows] = (
                    Ridge(alpha=alpha).fit(matrix[train_rows], targets[train_rows]).predict(matrix[rows])
                )
            score = smape(self.data.prices, np.expm1(predicted))
            self.selection.append(((alpha, char_weight, feature_weight), score))
        (self.alpha, self.char_weight, self.feature_weight), _ = min(self.selection, key=lambda pair: pair[1])
        logger.info("%s: alpha %g, char weight %g, feature weight %g", self.name, *self.grid_choice)
        return self.grid_choice

    @property
    def grid_choice(self) -> tuple[float, float, float]:
        return self.alpha, self.char_weight, self.feature_weight

    def fit(self, rows, upstream):
        from sklearn.linear_model import Ridge

        matrix = self._matrix(rows, self.char_weight, self.feature_weight)
        return Ridge(alpha=self.alpha).fit(matrix, np.log1p(self.data.prices[rows]))

    def predict(self, fitted, rows, upstream):
        return MemberPredictions(fitted.predict(self._matrix(rows, self.char_weight, self.feature_weight)))

    def spec(self, fitted) -> dict:
        return {"name": self.name, "kind": "linear"}

    def load_member(self, module, fitted) -> None:
        coef = np.asarray(fitted.coef_, dtype=np.float32)
        num_word = self.data.word.size
        num_char = 0 if self.data.char is None else self.data.char.size
        num_numeric = self._dense.shape[1] // 2
        word, char, dense = np.split(coef, [num_word, num_word + num_char])
        module.word_weight.copy_(torch.from_numpy(word).reshape(-1, 1))
        module.char_weight.copy_(torch.from_numpy(self.char_weight * char).reshape(-1, 1))
        module.numeric_weight.copy_(torch.from_numpy(self.feature_weight * dense[:num_numeric]))
        module.missing_weight.copy_(torch.from_numpy(self.feature_weight * dense[num_numeric:]))
        module.bias.fill_(float(fitted.intercept_))


class GradientBoostingTrainer(MemberTrainer):
    """A LightGBM regressor of `log1p(price)` on the embeddings of the price models named in `embeddings_of`,
    the predictions of the members named in `predictions_of`, the numeric and categorical features and the
    word TF-IDF's SVD components. Needs `lightgbm` (`pip install "hf_pricer[boosting]"`).

    Args:
        params: LightGBM parameters (default [`GRADIENT_BOOSTING_PARAMS`]).
        num_rounds: boosting rounds.
        num_threads: LightGBM threads (default: torch's).
    """

    def __init__(
        self,
        name: str,
        data: EnsembleData,
        embeddings_of: Sequence[str] = (),
        predictions_of: Sequence[str] = (),
        params: Mapping[str, Any] | None = None,
        num_rounds: int = 600,
        num_threads: int | None = None,
        seed: int = 0,
    ):
        self.name = name
        self.data = data
        self.embeddings_of = list(embeddings_of)
        self.predictions_of = list(predictions_of)
        self.upstream = tuple(dict.fromkeys([*self.embeddings_of, *self.predictions_of]))
        self.params = {
            **GRADIENT_BOOSTING_PARAMS,
            **(params or {}),
            "seed": seed,
            "num_threads": num_threads or torch.get_num_threads(),
        }
        self.num_rounds = num_rounds
        self._numeric, self._categorical = data.numeric, data.categorical

    def features(self, rows, upstream: Mapping[str, MemberPredictions]) -> np.ndarray:
        """The input rows, in the order `PriceEnsembleForPriceRegression.gradient_boosting_features` builds
        them."""
        columns = [upstream[name].embeddings for name in self.embeddings_of]
        columns += [upstream[name].log_price[:, None] for name in self.predictions_of]
        columns += [
            self._numeric[rows],
            self._categorical[rows].astype(np.float64),
            self.data.svd_features[rows],
        ]
        return np.hstack([np.asarray(column, dtype=np.float64) for column in columns])

    def _categorical_columns(self, upstream) -> list[int]:
        start = sum(upstream[name].embeddings.shape[1] for name in self.embeddings_of)
        start += len(self.predictions_of) + self._numeric.shape[1]
        return list(range(start, start + self._categorical.shape[1]))

    def fit(self, rows, upstream):
        import lightgbm

        dataset = lightgbm.Dataset(
            self.features(rows, upstream),
            np.log1p(self.data.prices[rows]),
            categorical_feature=self._categorical_columns(upstream),
            free_raw_data=True,
        )
        return lightgbm.train(self.params, dataset, num_boost_round=self.num_rounds)

    def predict(self, fitted, rows, upstream):
        return MemberPredictions(fitted.predict(self.features(rows, upstream)))

    def spec(self, fitted) -> dict:
        return {
            "name": self.name,
            "kind": "gradient_boosting",
            "embeddings_of": self.embeddings_of,
            "predictions_of": self.predictions_of,
            "num_model_bytes": len(fitted.model_to_string().encode("utf-8")),
            "num_svd_components": int(self.data.svd_components.shape[1]),
        }

    def load_member(self, module, fitted) -> None:
        module.set_model_text(fitted.model_to_string())
        module.svd_components.copy_(torch.from_numpy(self.data.svd_components))


# -- fitting the ensemble -----------------------------------------------------------------------------------


@dataclass
class EnsembleReport:
    """What fitting an ensemble measured, all on the training items: each member's out-of-fold metrics and
    seconds, the members the forward selection kept, the stacker, and the stack's nested cross-validation
    metrics (the stacker refitted without each fold)."""

    member_metrics: dict[str, dict[str, float]]
    member_seconds: dict[str, float]
    selected: list[str]
    weights: dict[str, float]
    intercept: float
    multiplier: float
    stack_metrics: dict[str, float]
    interval_margin: float
    folds: int
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fit_price_ensemble(
    trainers: Sequence[MemberTrainer],
    data: EnsembleData,
    num_folds: int = 5,
    seed: int = 42,
    nested: bool = True,
    select_members: bool = True,
    coverage: float = 0.8,
):
    """Cross-fit the members, fit the stacker on their out-of-fold log prices (NNLS, then the SMAPE-best price
    multiplier; with `select_members`, only the members that greedy forward selection keeps on the stack's
    nested CV SMAPE get a weight), calibrate the `coverage` interval, and assemble the ensemble.

    Returns `(model, processor, report)`: a [`PriceEnsembleForPriceRegression`], its
    [`PriceEnsembleProcessor`] and an [`EnsembleReport`]."""
    from .models.price_ensemble import (
        PriceEnsembleConfig,
        PriceEnsembleForPriceRegression,
        PriceEnsembleProcessor,
    )
    from .stacking import kfold_rows

    start = time.perf_counter()
    folds = kfold_rows(len(data.prices), num_folds, seed)
    for trainer in trainers:
        if hasattr(trainer, "select"):
            trainer.select(folds)
    crossed = cross_fit(trainers, len(data.prices), num_folds, seed, nested)
    names = [trainer.name for trainer in trainers]
    matrix = crossed.log_price_matrix(names)
    selected = forward_select(names, matrix, data.prices, folds) if select_members else list(names)
    columns = [names.index(name) for name in selected]
    stacker = NNLSStacker().fit(matrix[:, columns], data.prices)
    weights = np.zeros(len(names))
    weights[columns] = stacker.weights
    stacked = nested_stack_predictions(matrix[:, columns], data.prices, folds)

    # Interval: the stack's log price ± margin × the interval width of the first member with quantiles.
    interval_member = next((n for n in names if crossed.oof[n].quantile_log_price is not None), None)
    spread = np.ones(len(data.prices))
    if interval_member is not None:
        quantiles = np.sort(crossed.oof[interval_member].quantile_log_price, axis=1)
        spread = quantiles[:, -1] - quantiles[:, 0]
    center = np.log1p(np.maximum(stacker.predict(matrix[:, columns]), 0.0))
    margin = conformal_half_width(center, spread, np.log1p(data.prices), coverage)
    for trainer in trainers:  # each price model's own interval, calibrated on its out-of-fold quantiles
        oof_quantiles = crossed.oof[trainer.name].quantile_log_price
        if (
            oof_quantiles is not None
            and len(getattr(crossed.fitted[trainer.name].config, "quantiles", ())) >= 2
        ):
            crossed.fitted[trainer.name].calibrate_intervals(
                torch.from_numpy(oof_quantiles), torch.from_numpy(data.prices)
            )

    config = PriceEnsembleConfig(
        members=[trainer.spec(crossed.fitted[trainer.name]) for trainer in trainers],
        stacker_weights=weights.tolist(),
        stacker_intercept=float(stacker.intercept),
        price_multiplier=float(stacker.multiplier),
        quantiles=[(1 - coverage) / 2, (1 + coverage) / 2],
        interval_member=interval_member,
        interval_margin=float(margin),
        num_word_features=data.word.size,
        num_char_features=0 if data.char is None else data.char.size,
        **data.tabular.config_kwargs(),
    )
    model = PriceEnsembleForPriceRegression(config).eval()
    with torch.no_grad():
        for trainer in trainers:
            trainer.load_member(model.members[trainer.name], crossed.fitted[trainer.name])
    processor = PriceEnsembleProcessor(
        member_processors={t.name: t.processor for t in trainers if isinstance(t, PriceModelTrainer)},
        tabular_features=data.tabular,
        word_tfidf=data.word,
        char_tfidf=data.char,
        use_details=data.use_details,
    )
    report = EnsembleReport(
        member_metrics={
            name: price_metrics(np.expm1(crossed.oof[name].log_price), data.prices) for name in names
        },
        member_seconds=crossed.seconds,
        selected=selected,
        weights=dict(zip(names, weights.tolist())),
        intercept=float(stacker.intercept),
        multiplier=float(stacker.multiplier),
        stack_metrics=price_metrics(stacked, data.prices),
        interval_margin=float(margin),
        folds=num_folds,
        seconds={
            **data.seconds,
            "members": sum(crossed.seconds.values()),
            "total": time.perf_counter() - start,
        },
    )
    return model, processor, report


@torch.inference_mode()
def evaluate_price_ensemble(model, processor, items, batch_size: int = 128) -> dict[str, Any]:
    """Metrics of an ensemble on items with prices (`test_` prefixed): its price metrics and interval
    coverage, and under `members` each member's (from the ensemble's own forward; a price model's interval
    from its quantiles)."""
    from .metrics.price import interval_metrics

    records = list(items.to_list() if hasattr(items, "to_list") else items)
    prices = np.array([item["price"] for item in records], dtype=np.float64)
    batches = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
    outputs = [model(**processor.process_items(batch)) for batch in batches]
    predictions = torch.cat([o.predictions for o in outputs]).numpy()
    member_log_prices = torch.cat([o.member_log_prices for o in outputs]).numpy()
    interval = torch.cat([o.quantile_predictions for o in outputs]).numpy()
    results = {f"test_{k}": v for k, v in price_metrics(predictions, prices).items()}
    results.update(
        {f"test_{k}": v for k, v in interval_metrics(interval[:, 0], interval[:, 1], prices).items()}
    )
    results["members"] = {}
    for position, spec in enumerate(model.config.members):
        member_prices = np.maximum(np.expm1(member_log_prices[:, position]), model.config.min_price)
        figures = {f"test_{k}": v for k, v in price_metrics(member_prices, prices).items()}
        member = model.members[spec["name"]]
        if spec["kind"] == "price_model" and len(member.config.quantiles) >= 2:
            member_processor = processor.member_processors[spec["name"]]
            bounds = torch.cat(
                [member(**member_processor.process_items(batch)).quantile_predictions for batch in batches]
            ).numpy()
            figures.update(
                {f"test_{k}": v for k, v in interval_metrics(bounds[:, 0], bounds[:, -1], prices).items()}
            )
        results["members"][spec["name"]] = figures
    return results


__all__ = [
    "GRADIENT_BOOSTING_PARAMS",
    "EnsembleData",
    "EnsembleReport",
    "GradientBoostingTrainer",
    "LinearTrainer",
    "PriceModelTrainer",
    "evaluate_price_ensemble",
    "fit_price_ensemble",
]
