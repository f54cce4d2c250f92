"""Configuration of the price ensemble: price models, a gradient-boosting and a linear member, and their
stacker."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from hf_pricer.configuration_utils import PipelineConfigMixin

MEMBER_KINDS = ("price_model", "gradient_boosting", "linear")


@strict
class PriceEnsembleConfig(PipelineConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`PriceEnsembleForPriceRegression`]: its members, the stacker that combines their
    log-price predictions, and its prediction interval. Built by [`hf_pricer.stacking.fit_price_ensemble`],
    which fits every member and the stacker on out-of-fold predictions of the training items.

    Args:
        members (`list[dict]`, *optional*, defaults to `[]`):
            One entry per member, in stacking order, each with a `name` and a `kind`:
            - `"price_model"`: an hf_pricer price model, with its config as a dict (`config`);
            - `"linear"`: a linear model of the TF-IDF word and character n-grams and of the numeric features
              (their values and whether each is missing);
            - `"gradient_boosting"`: a LightGBM regressor (its model text is stored in the weights, never
              pickled; `num_model_bytes` long) over the embeddings of the price models named in
              `embeddings_of`, the predicted log prices of the members named in `predictions_of`, the numeric
              and categorical features and `num_svd_components` SVD components of the word TF-IDF.
        stacker_weights (`list[float]`, *optional*, defaults to `[]`):
            Non-negative weight of each member's predicted `log1p(price)`, fitted by non-negative least
            squares on out-of-fold predictions.
        stacker_intercept (`float`, *optional*, defaults to 0.0):
            Added to the weighted sum.
        price_multiplier (`float`, *optional*, defaults to 1.0):
            The stacked price `expm1(...)` is multiplied by it (chosen on the out-of-fold SMAPE: a
            least-squares fit in log space leaves SMAPE a little better off slightly lower or higher).
        quantiles (`list[float]`, *optional*, defaults to `[0.1, 0.9]`):
            The two ends of the prediction interval, as price quantiles.
        interval_member (`str`, *optional*):
            A price-model member with quantiles whose predicted interval width scales the ensemble's interval
            per item; `None`: the same width (in log price) for every item.
        interval_margin (`float`, *optional*, defaults to 0.0):
            Half-width of the interval in units of that width (or of `log1p(price)`), fitted by conformal
            calibration on out-of-fold predictions so that the interval covers `quantiles[1] - quantiles[0]`
            of the prices.
        numeric_feature_names (`list[str]`, *optional*, defaults to `[]`):
            The numeric features the linear and gradient-boosting members read (from the ensemble's
            processor).
        categorical_feature_names (`list[str]`, *optional*, defaults to `[]`):
            Their categorical features.
        categorical_cardinalities (`list[int]`, *optional*, defaults to `[]`):
            Ids of each categorical feature.
        num_word_features (`int`, *optional*, defaults to 0):
            Size of the processor's word TF-IDF vocabulary.
        num_char_features (`int`, *optional*, defaults to 0):
            Size of its character n-gram TF-IDF vocabulary.
        min_price (`float`, *optional*, defaults to 0.01):
            Predictions are clipped to at least this price.
    """

    model_type = "hf_pricer_price_ensemble"

    members: list[dict] | tuple[dict, ...] = ()
    stacker_weights: list[float] | tuple[float, ...] = ()
    stacker_intercept: float | int = 0.0
    price_multiplier: float | int = 1.0
    quantiles: list[float] | tuple[float, ...] = (0.1, 0.9)
    interval_member: str | None = None
    interval_margin: float | int = 0.0
    numeric_feature_names: list[str] | tuple[str, ...] = ()
    categorical_feature_names: list[str] | tuple[str, ...] = ()
    categorical_cardinalities: list[int] | tuple[int, ...] = ()
    num_word_features: int = 0
    num_char_features: int = 0
    min_price: float | int = 0.01

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        names = [member.get("name") for member in self.members]
        if len(set(names)) != len(names) or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"every member needs a unique non-empty `name`, got {names}")
        for member in self.members:
            if member.get("kind") not in MEMBER_KINDS:
                raise ValueError(
                    f"member {member['name']!r}: `kind` must be one of {MEMBER_KINDS}, got "
                    f"{member.get('kind')!r}"
                )
            for reference in (*member.get("embeddings_of", ()), *member.get("predictions_of", ())):
                if reference not in names[: names.index(member["name"])]:
                    raise ValueError(
                        f"member {member['name']!r} reads {reference!r}, which is not a member listed "
                        "before it"
                    )
        if len(self.stacker_weights) != len(self.members) or any(
            weight < 0 for weight in self.stacker_weights
        ):
            raise ValueError(
                f"`stacker_weights` must hold one non-negative weight per member ({len(self.members)}), "
                f"got {list(self.stacker_weights)}"
            )
        if len(self.quantiles) != 2 or not 0 < self.quantiles[0] < self.quantiles[1] < 1:
            raise ValueError(
                f"`quantiles` must be two increasing levels in (0, 1), got {list(self.quantiles)}"
            )
        if self.interval_member is not None and self.interval_member not in names:
            raise ValueError(f"`interval_member` {self.interval_member!r} is not a member ({names})")
        if len(self.categorical_cardinalities) != len(self.categorical_feature_names):
            raise ValueError("`categorical_cardinalities` needs one value per categorical feature")


__all__ = ["PriceEnsembleConfig"]
