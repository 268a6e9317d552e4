"""The runner's own Keras callbacks and data feed: resumable history, checkpoints, seeded epochs.

Together with `keras.callbacks.BackupAndRestore` they make an interrupted run
resume to exactly the state an uninterrupted one would have had:

* `SeededBatches` orders each epoch's batches from `(seed, epoch)` only, so
  the epochs after a resume see the same batches;
* `SeedStateBackup` saves the model's random-generator states (dropout,
  stochastic depth) next to the backup, which Keras' weight files omit;
* `HistoryLogger` keeps the CSV history of the finished epochs only;
* `BestCheckpoint` / `LastCheckpoint` write `.keras` files atomically, the
  best one remembering its best value across restarts;
* `ReplayMonitors` replays the history into `EarlyStopping` /
  `ReduceLROnPlateau` so their patience counters survive a restart.
"""

import math
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np

import keras

# The run-directory files (re-exported: `CB.read_json` and `callbacks.read_history` keep working).
from dlzoo.experiments.runfiles import read_history, read_json, write_history, write_json  # noqa: F401

MAX_MONITORS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "correlation", "cosine")


def resolve_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    return "max" if any(word in monitor for word in MAX_MONITORS) and "loss" not in monitor else "min"


def _structure_slice(value, index):
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: v[index] for k, v in value.items()}
    return value[index]


class SeededBatches(keras.utils.PyDataset):
    """Batches of in-memory arrays, each epoch's order a function of `(seed, epoch)` only.

    Args:
        x, y, sample_weight: arrays or dicts of arrays (first axis = examples).
        batch_size: int.
        shuffle: bool. Permute the examples each epoch.
        seed: int.
        augmentations: callables `(x, rng) -> x` applied in order to each
            batch's inputs, with a generator seeded by `(seed, epoch, batch)`
            (training data only). Defaults to none.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, seed=0, augmentations=()):
        super().__init__()
        self.augmentations = list(augmentations)
        self.x, self.y, self.sample_weight = x, y, sample_weight
        first = next(iter(x.values())) if isinstance(x, dict) else x
        self.size = int(len(first))
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self._orders = {}

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.size)
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.size)}
        return self._orders[epoch]

    @property
    def num_batches(self):
        return max(1, math.ceil(self.size / self.batch_size))

    def __len__(self):
        return self.num_batches

    def __getitem__(self, index):
        rows = self.order(self.epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        x = _structure_slice(self.x, rows)
        if self.augmentations:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            for augmentation in self.augmentations:
                x = augmentation(x, rng)
        if self.y is None:
            return (x,)
        y = _structure_slice(self.y, rows)
        if self.sample_weight is None:
            return x, y
        return x, y, _structure_slice(self.sample_weight, rows)


class EpochSetter(keras.callbacks.Callback):
    """Tell a `SeededBatches` which epoch starts (before its first batch is read)."""

    def __init__(self, dataset: SeededBatches):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.epoch = int(epoch)


def _atomic_save(model, path: str) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    if base.endswith(".weights"):
        base, ext = base[: -len(".weights")], ".weights" + ext
    tmp = os.path.join(directory, f".{base}.tmp{ext}")
    if ext == ".keras":
        model.save(tmp)
    else:
        model.save_weights(tmp)
    os.replace(tmp, path)


def seed_variables(model) -> List[Any]:
    return [v for v in model.variables if "seed_generator" in v.path]


class SeedStateBackup(keras.callbacks.Callback):
    """Save the random-generator states at each epoch end (`seed_states_<epoch>.npz`); restore them.

    Args:
        directory: str. Where the states are written.
        resume_epoch: int or None. Restore the states saved for this epoch when it
            begins: not before `fit`, which may itself draw from the engine's
            generator before the first epoch (torch's data loader does when it
            peeks at a batch to build the model).
    """

    def __init__(self, directory: str, resume_epoch: Optional[int] = None):
        super().__init__()
        self.directory = directory
        self.resume_epoch = resume_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if self.resume_epoch is not None and epoch == self.resume_epoch:
            self.restore(self.model, epoch)
            self.resume_epoch = None

    def path(self, epoch: int) -> str:
        return os.path.join(self.directory, f"seed_states_{epoch}.npz")

    def on_epoch_end(self, epoch, logs=None):
        variables = seed_variables(self.model)
        engine_state = _engine_rng_state()
        if not variables and engine_state is None:
            return
        os.makedirs(self.directory, exist_ok=True)
        arrays = {f"v{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(variables)}
        if engine_state is not None:
            arrays["engine_rng_state"] = engine_state
        tmp = self.path(epoch + 1) + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self.path(epoch + 1))
        for name in os.listdir(self.directory):  # keep only the newest two
            if name.startswith("seed_states_") and name.endswith(".npz"):
                number = name[len("seed_states_"):-4]
                if number.isdigit() and int(number) < epoch:
                    os.remove(os.path.join(self.directory, name))

    def restore(self, model, epoch: int) -> bool:
        path = self.path(epoch)
        variables = seed_variables(model)
        if not os.path.exists(path):
            return False
        with np.load(path) as data:
            for i, v in enumerate(variables):
                if f"v{i}" in data:
                    v.assign(data[f"v{i}"])
            if "engine_rng_state" in data:
                _set_engine_rng_state(data["engine_rng_state"])
        return True


def _engine_rng_state() -> Optional[np.ndarray]:
    """The backend's own global generator state, where Keras draws from it.

    On torch, layers whose `SeedGenerator` was made without a seed (e.g.
    `keras.layers.Dropout(rate)`) draw from torch's global generator rather
    than from a Keras variable, so a resumed run must restore that state too.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch  # lazy: backend (torch)

    return torch.get_rng_state().numpy().copy()


def _set_engine_rng_state(state: np.ndarray) -> None:
    if keras.backend.backend() == "torch":
        import torch  # lazy: backend (torch)

        torch.set_rng_state(torch.from_numpy(np.asarray(state, dtype=np.uint8)))


def _learning_rate(model) -> Optional[float]:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        lr = optimizer.learning_rate
        return float(keras.ops.convert_to_numpy(lr))
    except Exception:
        return None


class HistoryLogger(keras.callbacks.Callback):
    """`history.csv`: one row per finished epoch (metrics, learning rate, epoch time).

    Args:
        path: str. The CSV file.
        initial_epoch: int. Rows from this epoch on are dropped at start
            (they belong to an epoch that a restart repeats).
    """

    def __init__(self, path: str, initial_epoch: int = 0):
        super().__init__()
        self.path = path
        self.rows = [r for r in read_history(path) if r.get("epoch", 0) < initial_epoch]
        self._start = None

    def on_train_begin(self, logs=None):
        write_history(self.path, self.rows)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": int(epoch)}
        for k, v in (logs or {}).items():
            try:
                row[k] = float(v)
            except (TypeError, ValueError):
                continue
        lr = _learning_rate(self.model)
        if lr is not None:
            row["learning_rate"] = lr
        row["epoch_time"] = time.perf_counter() - (self._start or time.perf_counter())
        self.rows.append(row)
        write_history(self.path, self.rows)


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model (atomically) when `monitor` improves; the best value survives restarts."""

    def __init__(self, path: str, monitor: str, mode: str = "auto", history: Optional[List[Dict[str, Any]]] = None):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.best = None
        self.best_epoch = None
        for row in history or []:
            if self.monitor in row and self._better(row[self.monitor]):
                self.best, self.best_epoch = row[self.monitor], row["epoch"]
        if self.best is not None and not os.path.exists(self.path):
            self.best = self.best_epoch = None  # the file was lost: save again

    def _better(self, value) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self._better(value):
            self.best, self.best_epoch = value, int(epoch)
            _atomic_save(self.model, self.path)


class LastCheckpoint(keras.callbacks.Callback):
    """Save the model (atomically) at every epoch end."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        _atomic_save(self.model, self.path)


class _ReplayOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate


class _ReplayModel:
    """Stands in for the model while monitors replay the history (no side effect on training)."""

    def __init__(self, model):
        self._model = model
        self.stop_training = False
        self.optimizer = _ReplayOptimizer(_learning_rate(model) or 0.0)

    def get_weights(self):
        return self._model.get_weights()


class ReplayMonitors(keras.callbacks.Callback):
    """On a resumed run, replay the finished epochs' logs into stateful monitors (patience, best value).

    Args:
        callbacks: the user's callbacks; those with a `wait` counter
            (`EarlyStopping`, `ReduceLROnPlateau`) are replayed.
        history: rows of the finished epochs.
    """

    def __init__(self, callbacks, history):
        super().__init__()
        self.targets = [cb for cb in callbacks if hasattr(cb, "wait") and hasattr(cb, "on_epoch_end")]
        self.history = list(history)

    def on_train_begin(self, logs=None):
        if not self.history:
            return
        for cb in self.targets:
            real = cb.model
            stand_in = _ReplayModel(real)
            cb.set_model(stand_in)
            try:
                for row in self.history:
                    logs = {k: v for k, v in row.items() if k not in ("epoch", "epoch_time", "learning_rate")}
                    cb.on_epoch_end(int(row["epoch"]), logs)
            finally:
                cb.set_model(real)
