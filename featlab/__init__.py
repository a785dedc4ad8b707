"""featlab: population-batched sandboxes for the theory of deep learning.

    import featlab as fl
    setting = fl.Setting(data=fl.SignalNoiseData(n=20, d=500, mu_norm=3.0),
                         model=fl.TwoLayerCNN(m=10, activation="relu_q", q=2),
                         optim=fl.OptimConfig(name="gd", lr=0.5),
                         train=fl.TrainConfig(steps=300))
    res = fl.train(fl.Sweep(setting, {"data.mu_norm": [1.0, 4.0]}, seeds=5))
    res.final.groupby("data.mu_norm")[["test_error", "gamma_max", "rho_max"]].mean()
"""

__version__ = "0.1.0"

from featlab.config import (MLP, ConfigError, OptimConfig, Setting, SignalNoiseData, TrainConfig,
                            TwoLayerCNN, config_hash, flatten, override)
from featlab.data.gaussian_mixture import GaussianMixtureData
from featlab.data.teacher_student import TeacherStudentData
from featlab.models import Family, register_family
from featlab.plugins import load_plugin
from featlab import experiments  # the registry package, callable: featlab.experiments()
from featlab.experiments import get_experiment
from featlab.runner import build_report, run_experiment, run_sweep, run_sweep_file
from featlab.sweepfile import load_sweep
from featlab.store import Store, StoreError
from featlab.sweep import Sweep
from featlab import train  # the training package, callable: featlab.train(sweep)
from featlab.train import Results, RunSpec

__all__ = [
    "__version__", "ConfigError", "Setting", "SignalNoiseData", "TwoLayerCNN", "OptimConfig",
    "TrainConfig", "override", "flatten", "config_hash", "Sweep", "RunSpec", "train", "Results",
    "Store", "StoreError", "run_experiment", "run_sweep", "build_report", "experiments",
    "get_experiment", "MLP", "TeacherStudentData", "GaussianMixtureData", "Family",
    "register_family", "load_plugin", "load_sweep", "run_sweep_file",
]
