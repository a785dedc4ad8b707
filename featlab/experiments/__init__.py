"""Experiment registry: each module defines ``EXPERIMENT``; add a new one to ``_MODULES``."""

from __future__ import annotations

import importlib

from featlab._callable_module import make_callable
from featlab.config import ConfigError
from featlab.experiments.base import (Analysis, Context, Control, Experiment, check_row, report_row,
                                     verdict)

__all__ = ["Experiment", "Analysis", "Context", "Control", "check_row", "report_row", "verdict",
           "get_experiment", "experiments"]

_MODULES = {
    # signal-noise data and two-layer CNNs
    "kou2023-phase": "featlab.experiments.kou2023_phase",
    "cao2022-phase": "featlab.experiments.cao2022_phase",
    "signal-noise-dynamics": "featlab.experiments.signal_noise_dynamics",
    # training strategies and feature learning
    "huang2025-label-noise-gd": "featlab.experiments.huang2025_label_noise_gd",
    "han2025-label-noise-stages": "featlab.experiments.han2025_label_noise_stages",
    "zou2023-adam-vs-gd": "featlab.experiments.zou2023_adam_vs_gd",
    "chen2023-sam": "featlab.experiments.chen2023_sam",
    "meng2024-xor-phase": "featlab.experiments.meng2024_xor_phase",
    "mixup-feature-learning": "featlab.experiments.mixup_feature_learning",
    "momentum-feature-learning": "featlab.experiments.momentum_feature_learning",
    "optimizer-atlas": "featlab.experiments.optimizer_atlas",
    # linear models, SGD and scaling laws
    "sgd-linear-risk": "featlab.experiments.sgd_linear_risk",
    "sgd-vs-ridge": "featlab.experiments.sgd_vs_ridge",
    "double-descent": "featlab.experiments.double_descent",
    "rf-double-descent": "featlab.experiments.rf_double_descent",
    "benign-linear": "featlab.experiments.benign_linear",
    "scaling-law-linear": "featlab.experiments.scaling_law_linear",
    "plrf-phases": "featlab.experiments.plrf_phases",
    "w2s-linear": "featlab.experiments.w2s_linear",
    # model families, parametrizations, depth and regimes
    "mlp-width-sweep": "featlab.experiments.mlp_width_sweep",
    "ba2022-one-step": "featlab.experiments.ba2022_one_step",
    "lazy-rich-phase": "featlab.experiments.lazy_rich_phase",
    "abc-table": "featlab.experiments.abc_table",
    "coord-check": "featlab.experiments.coord_check",
    "mup-width-transfer": "featlab.experiments.mup_width_transfer",
    "depth-transfer": "featlab.experiments.depth_transfer",
    "neural-collapse": "featlab.experiments.neural_collapse",
    "barbier2025-specialisation": "featlab.experiments.barbier2025_specialisation",
    # attention and transformers
    "sakamoto2025-token-selection": "featlab.experiments.sakamoto2025_token_selection",
    "wu2023-icl-tasks": "featlab.experiments.wu2023_icl_tasks",
    "jiang2024-attention-phase": "featlab.experiments.jiang2024_attention_phase",
    "li2025-signgd-transformer": "featlab.experiments.li2025_signgd_transformer",
    "wu2025-trained-embeddings": "featlab.experiments.wu2025_trained_embeddings",
    # contrastive learning and diffusion
    "huang2024-multimodal-contrastive": "featlab.experiments.huang2024_multimodal_contrastive",
    "han2025-diffusion-features": "featlab.experiments.han2025_diffusion_features",
    # depth transfer under Adam (issue 15 item 4)
    "depth-transfer-adam": "featlab.experiments.depth_transfer_adam",
}


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name`` (ConfigError listing the valid names otherwise)."""
    if name not in _MODULES:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(_MODULES)} "
                          f"(see featlab list)")
    return importlib.import_module(_MODULES[name]).EXPERIMENT


def experiments() -> list[Experiment]:
    """All registered experiments, in registry order."""
    return [get_experiment(n) for n in _MODULES]


make_callable(__name__, experiments)     # featlab.experiments() lists them
