"""Every Dagster run config takes its defaults from the domain dataclass it configures: a default changed in the
domain changes the asset's, and a config field restating a different number fails here (issue 18)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from assets.fits import FitWindowConfig, KappaFitConfig, RegimeFitConfig
from assets.lead_lag import LeadLagFitConfig
from assets.measurement import FeaturesConfig
from assets.niche import MarketScreenConfig, TimeOfDayConfig
from assets.promotion import PromotionConfig
from assets.validation import SignalQualityConfig, WalkForwardConfig
from calibration.bars import BarSettings
from calibration.fit_window import FitWindowSettings
from calibration.lead_lag import LeadLagConfig
from calibration.window_fits import KappaFitSettings, RegimeFitSettings
from validation.decisions.promotion_gate import GateConfig
from validation.experiments.variant_types import VariantConfig
from validation.experiments.walk_forward import FoldPlan
from validation.experiments.walk_forward_run import DEFAULT_ALPHA
from validation.screening.market_screen import ScreenThresholds
from validation.screening.time_structure import TimeStructureSettings
from validation.tables.signal_table import SignalQualitySettings

POLICY = VariantConfig()
WALK_FORWARD_DOMAIN: dict[str, Callable[[], Any]] = {
    **{name: (lambda n=name: getattr(FoldPlan(), n)) for name in ("train_hours", "test_hours", "n_folds")},
    **{
        name: (lambda n=name: getattr(POLICY, n))
        for name in (
            "sz_decimals",
            "order_notional",
            "gamma",
            "min_spread_bps",
            "edge_z",
            "daily_loss_limit_quote",
            "vpin_buckets_per_day",
            "vpin_window",
        )
    },
    "candidate_gamma_by_regime": lambda: list(POLICY.candidate_gamma_by_regime),
    "candidate_min_spread_bps_by_regime": lambda: list(POLICY.candidate_min_spread_bps_by_regime),
    "fill_model": lambda: POLICY.backtest.fill_model,
    "period_seconds": lambda: POLICY.period_ms / 1000,
    "alpha": lambda: DEFAULT_ALPHA,
}
"""WalkForwardConfig's fields that configure a domain default, and where that default lives (``leader`` is the
run's choice, no domain default)."""

CONFIG_DOMAINS: list[tuple[type[dg.Config], object]] = [
    (FitWindowConfig, FitWindowSettings()),
    (RegimeFitConfig, RegimeFitSettings()),
    (KappaFitConfig, KappaFitSettings()),
    (LeadLagFitConfig, LeadLagConfig()),
    (FeaturesConfig, BarSettings()),
    (MarketScreenConfig, ScreenThresholds()),
    (TimeOfDayConfig, TimeStructureSettings()),
    (SignalQualityConfig, SignalQualitySettings()),
    (PromotionConfig, GateConfig()),
]


def defaults(config: type[dg.Config]) -> dict[str, Any]:
    return {name: field.default for name, field in config.model_fields.items()}


@pytest.mark.parametrize(("config", "domain"), CONFIG_DOMAINS, ids=lambda c: getattr(c, "__name__", ""))
def test_every_config_default_is_its_domain_default(config: type[dg.Config], domain: object) -> None:
    domain_fields = {f.name for f in dataclasses.fields(domain)}
    shared = {name: value for name, value in defaults(config).items() if name in domain_fields}
    own = set(defaults(config)) - set(shared) - set(defaults(FitWindowConfig)) - {"coins"}
    assert not own, f"{config.__name__} fields {own} have no domain default"
    assert shared, config.__name__
    for name, value in shared.items():
        assert value == getattr(domain, name), (config.__name__, name)
    window = defaults(config).get("window_days")
    assert window is None or window == FitWindowSettings().window_days


def test_the_walk_forward_config_is_the_fold_plan_and_the_variants_policy() -> None:
    found = defaults(WalkForwardConfig)
    assert set(found) - set(WALK_FORWARD_DOMAIN) == {"leader"}
    for name, domain in WALK_FORWARD_DOMAIN.items():
        assert found[name] == domain(), name
    assert WalkForwardConfig().variant_config() == POLICY
    assert WalkForwardConfig().plan() == FoldPlan()
    assert PromotionConfig().gate() == GateConfig()
    assert SignalQualityConfig().settings() == SignalQualitySettings()


def test_a_run_config_reaches_the_domain_objects() -> None:
    config = WalkForwardConfig(train_hours=6, test_hours=2, n_folds=2, gamma=0.7, period_seconds=30)
    assert config.plan() == FoldPlan(train_hours=6, test_hours=2, n_folds=2)
    assert (config.variant_config().gamma, config.variant_config().period_ms) == (0.7, 30_000)
    assert PromotionConfig(min_oos_fills=10).gate() == dataclasses.replace(GateConfig(), min_oos_fills=10)


def test_a_per_regime_run_config_needs_one_value_per_hmm_state() -> None:
    """A list of another length than the three states is refused when the run starts, naming the field (it used to
    reach the candidate as a shorter or longer tuple: a missing state failed deep in the run, an extra one was
    ignored)."""
    for values in ([0.3, 0.6], [0.3, 0.6, 1.5, 2.0]):
        with pytest.raises(ValueError, match=f"candidate_gamma_by_regime needs 3 values .* got {len(values)}"):
            WalkForwardConfig(candidate_gamma_by_regime=values).variant_config()
    with pytest.raises(ValueError, match="candidate_min_spread_bps_by_regime needs 3 values"):
        WalkForwardConfig(candidate_min_spread_bps_by_regime=[1.0]).variant_config()
    three = WalkForwardConfig(candidate_gamma_by_regime=[0.2, 0.4, 0.8]).variant_config()
    assert three.candidate_gamma_by_regime == (0.2, 0.4, 0.8)
