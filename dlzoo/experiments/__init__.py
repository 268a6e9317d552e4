"""Experiments: one composition file, every combination of components trained, traced and reported.

    dlzoo run experiment.yaml [key=value ...]     # validate, expand, train every run
    dlzoo report runs/<name>                      # Markdown + HTML report with plots
    dlzoo compare RUN_A RUN_B                     # config diff, metric diff, curves
    dlzoo battery experiment.yaml --emit slurm --out scripts/

Modules: `schema` (the composition file: defaults, loading, validation),
`expand` (grid / random search, run names), `components` (components by name:
dlzoo registries, then Keras built-ins), `datasets` (`Data`, `digits`,
`arrays`, `concepts`), `transforms`, `splitting` (seeded, stratified or
grouped splits; k-fold), `runner` (run directories, training, resuming),
`environment`, `analysis` (parameters per block, memory, FLOPs), `report`,
`compare` and `battery`. See `guides/experiments.md`.
"""

from dlzoo.experiments.schema import (
    DEFAULTS,
    Experiment,
    ExperimentError,
    Problem,
    RunSpec,
    load_experiment,
)
from dlzoo.experiments.datasets import Data
from dlzoo.experiments import runner

__all__ = [
    "DEFAULTS",
    "Data",
    "Experiment",
    "ExperimentError",
    "Problem",
    "RunSpec",
    "load_experiment",
    "run_experiment",
]


def run_experiment(source, overrides=(), **kwargs):
    """Load a composition file and run every run (see `dlzoo.experiments.runner.run_experiment`)."""
    return runner.run_experiment(source, overrides=overrides, **kwargs)
