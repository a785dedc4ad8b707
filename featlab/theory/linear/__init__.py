"""Pure-math theory of linear models: SGD risk, ridge, sketched models, random features, scaling fits.

Exact results (expectations over data and SGD noise, closed forms or O(T d) recursions):
``sgd_risk`` (one-pass minibatch SGD on Gaussian linear regression, last and tail-averaged iterate),
``features`` (linear features of Gaussian data reduce exactly to linear regression),
``random_features`` (exact moments and test risk of ReLU random features; Gaussian-equivalent ridge), the fixed-W /
fixed-sketch risks in ``plrf`` and ``sketched``. Asymptotic equivalents: ``ridge`` (deterministic
equivalent), ``sketched.sketched_approx_error``. Theta-models with constants set to 1:
``sketched.sketched_risk_model``, ``sgd_risk.zou2021_bound_shape``. Fitting: ``fit``.
Conventions: risks are E<x, w - w*>^2 without a factor 1/2, except the PLRF loss P, which follows
Paquette et al. (1/2 E[...]).
"""

from featlab.theory.linear.features import FeatureRegression, feature_sgd_risk, gaussian_feature_regression
from featlab.theory.linear.fit import ScalingFit, fit_power_law, fit_power_law_2d
from featlab.theory.linear.plrf import (
    PLRF,
    PLRFPhase,
    PLRFRisk,
    plrf_limit_loss,
    plrf_phase,
    plrf_problem,
    plrf_reduction,
    plrf_sgd_risk,
)
from featlab.theory.linear.random_features import (
    ReluFeatureMoments,
    relu_feature_moments,
    relu_rf_ridge_equivalent,
    relu_rf_risk,
)
from featlab.theory.linear.ridge import (
    BartlettRanks,
    RidgeEquivalent,
    RiskParts,
    bartlett_effective_ranks,
    hastie_isotropic_ridgeless,
    ridge_equivalent,
    ridge_kappa,
    simulate_ridge,
)
from featlab.theory.linear.sgd_risk import (
    Zou2021Shape,
    schedule,
    sgd_averaged_risk,
    sgd_last_iterate_risk,
    sgd_stationary_risk,
    stability_limit,
    zou2021_bound_shape,
)
from featlab.theory.linear.sketched import (
    SketchedRisk,
    compute_optimal_allocation,
    compute_optimal_closed_form,
    sketch_matrix,
    sketch_rho,
    sketched_approx_error,
    sketched_approx_exact,
    sketched_risk_model,
    sketched_sgd_risk,
)

__all__ = [
    # sgd_risk
    "schedule",
    "stability_limit",
    "sgd_stationary_risk",
    "sgd_last_iterate_risk",
    "sgd_averaged_risk",
    "Zou2021Shape",
    "zou2021_bound_shape",
    # ridge
    "ridge_kappa",
    "RidgeEquivalent",
    "ridge_equivalent",
    # random_features
    "ReluFeatureMoments",
    "relu_feature_moments",
    "relu_rf_risk",
    "relu_rf_ridge_equivalent",
    "RiskParts",
    "hastie_isotropic_ridgeless",
    "BartlettRanks",
    "bartlett_effective_ranks",
    "simulate_ridge",
    # features
    "FeatureRegression",
    "gaussian_feature_regression",
    "feature_sgd_risk",
    # sketched
    "sketch_matrix",
    "sketch_rho",
    "sketched_approx_error",
    "sketched_approx_exact",
    "sketched_sgd_risk",
    "SketchedRisk",
    "sketched_risk_model",
    "compute_optimal_closed_form",
    "compute_optimal_allocation",
    # plrf
    "PLRF",
    "plrf_problem",
    "plrf_reduction",
    "plrf_limit_loss",
    "PLRFRisk",
    "plrf_sgd_risk",
    "PLRFPhase",
    "plrf_phase",
    # fit
    "ScalingFit",
    "fit_power_law",
    "fit_power_law_2d",
]
