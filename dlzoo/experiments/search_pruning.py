"""The `optuna_pruning` callback: feeds a search trial's per-epoch validation metric to Optuna's pruner.

`dlzoo search` adds `{name: optuna_pruning, monitor: val_...}` to each
trial's composition (so the run's config shows it) and sets the trial as
the active one while the run trains in its process. After each epoch the
callback reports the monitored value; when the study's pruner (a
`MedianPruner`) says the trial is worse than the median of earlier trials at
that step, training stops and the search records the trial as pruned. Run
outside a search (a trial's run directory resumed with `dlzoo run`) the
callback does nothing.
"""

from typing import Any, Optional

import keras

from dlzoo.registry import register_component

#: The trial whose run is training in this process (set by the search worker).
ACTIVE: dict = {"trial": None, "step": 0, "pruned_at": None}


def activate(trial: Optional[Any]) -> None:
    ACTIVE.update(trial=trial, step=0, pruned_at=None)


@register_component("callback", "optuna_pruning")
class OptunaPruning(keras.callbacks.Callback):
    """Report `monitor` after each epoch to the active Optuna trial; stop training when its pruner says so.

    Args:
        monitor: str. The per-epoch log to report (`"val_accuracy"`).
    """

    def __init__(self, monitor: str = "val_loss"):
        super().__init__()
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        trial = ACTIVE["trial"]
        value = (logs or {}).get(self.monitor)
        if trial is None or value is None:
            return
        step = ACTIVE["step"]
        ACTIVE["step"] = step + 1
        trial.report(float(value), step)
        if trial.should_prune():
            ACTIVE["pruned_at"] = step
            self.model.stop_training = True
