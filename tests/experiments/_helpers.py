"""Shared test helpers: a tiny synthetic dataset, a tiny composition, and the `trained` fixture (run once per session)."""

import os

import numpy as np
import pytest


def tiny_arrays(directory, n=90, classes=3, seed=0):
    """`data.npz` with x (n, 4, 4, 1) float32 and class ids y: class k has a bright pixel at position k."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(0.0, 0.3, size=(n, 4, 4, 1)).astype("float32")
    x[np.arange(n), y, y, 0] += 2.0
    path = os.path.join(directory, "data.npz")
    np.savez(path, x=x, y=y.astype("int32"))
    return path


def tiny_config(data_path, **overrides):
    config = {
        "name": "tiny",
        "seed": 0,
        "data": {
            "dataset": {"name": "arrays", "path": data_path},
            "split": {"validation": 0.2, "test": 0.2, "stratify": True},
        },
        "model": {
            "name": "image-mlp-tiny",
            "params": {"image_shape": [4, 4, 1], "num_classes": 3, "hidden_dims": [8], "depths": [1]},
        },
        "losses": [{"name": "sparse_categorical_crossentropy", "from_logits": True}],
        "metrics": ["accuracy"],
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "training": {"epochs": 2, "batch_size": 16, "tensorboard": False},
    }
    for key, value in overrides.items():
        node = config
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Two finished runs (two learning rates, 2-fold CV) of the tiny composition, run in this process."""
    from dlzoo.experiments import runner

    root = tmp_path_factory.mktemp("trained")
    data = tiny_arrays(str(root))
    config = tiny_config(data, **{"optimizer.learning_rate": [0.01, 0.03], "data.cv": 2})
    out = str(root / "runs")
    summaries = runner.run_experiment(config, output_dir=out, isolate="never", quiet=True)
    return {"root": str(root), "out": out, "config": config, "summaries": summaries, "data": data}
