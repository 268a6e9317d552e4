"""Data-parallel training of one run across the processes torchrun starts (PyTorch backend).

Keras 3.15 has no distribution backend for PyTorch: `keras.src.backend.
distribution_lib` is `None` under torch, so `keras.distribution.DataParallel()`
fails with `AttributeError: 'NoneType' object has no attribute 'list_devices'`
(and `ModelParallel` with an explicit mesh is accepted but shards nothing).
This module does what `torch.nn.parallel.DistributedDataParallel` does, as a
small adapter around `Model.fit` (Keras' torch trainer calls the model
itself, never a DDP wrapper):

* every process builds the same model from the same seed, and rank 0's
  variables (and optimizer state) are broadcast when training starts, after
  a resumed run restored them from rank 0's backup;
* each global batch (the batch one process would train on: same order, same
  augmentations) is cut into contiguous shards, one per process
  (`ShardedBatches`);
* after each backward pass every gradient is all-reduced as
  `sum over ranks of (shard size / global batch size) * shard gradient`,
  which is the gradient of the mean loss over the global batch
  (`GradientAllReduce`, through `register_post_accumulate_grad_hook`;
  one blocking all-reduce per variable, without DDP's buckets);
* at the last batch of each epoch the metric states (totals and counts) are
  summed over the ranks, so every process logs the global epoch metrics and
  callbacks such as `EarlyStopping` decide the same on every rank.

The result is the single-process result on the same global batches, up to
float rounding, for losses that average over the examples (Keras' default
reduction). Differences that remain, as with DDP: batch normalization
computes its statistics per shard, and dropout draws its masks per shard.

Only rank 0 writes the run's files (history, checkpoints, backups,
predictions, summary) and holds the run's lock; the other ranks read rank 0's
backup to resume (`ReadOnlyBackupAndRestore`, `ReadOnlySeedStateBackup`), so
the run directory must be on a filesystem every process sees.
"""

import dataclasses
import os
from typing import Any, List

import numpy as np

import keras

from dlzoo.experiments import callbacks as CB
from dlzoo.experiments.launchers import PROCESS_GROUP_ENV


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the processes that train one run together."""

    rank: int = 0
    size: int = 1

    @property
    def primary(self) -> bool:
        """Whether this process writes the run's files (rank 0)."""
        return self.rank == 0


SINGLE = ProcessGroup()
_current = SINGLE


def group() -> ProcessGroup:
    """The process group this process trains in (`SINGLE` unless `start_from_environment` joined one)."""
    return _current


def start_from_environment() -> ProcessGroup:
    """Join the torch process group torchrun describes (`RANK`, `WORLD_SIZE`, ...); `SINGLE` when there is none.

    The group's backend comes from `DLZOO_PROCESS_GROUP` (`auto`: NCCL when
    CUDA is available, else gloo). With CUDA each process uses the GPU of its
    `LOCAL_RANK`.
    """
    global _current
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    if keras.backend.backend() != "torch":
        raise ValueError(f"Training across processes needs the torch backend. Received: backend={keras.backend.backend()!r}.")
    import torch  # lazy: backend (torch)
    import torch.distributed as dist  # lazy: backend (torch)

    backend = os.environ.get(PROCESS_GROUP_ENV, "auto")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        local_rank, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local_rank >= gpus:
            raise ValueError(f"Each process uses one GPU, but this machine has {gpus} and torchrun started process "
                             f"{local_rank}: set `launcher.nproc_per_node` to at most {gpus}. "
                             f"Received: LOCAL_RANK={local_rank}.")
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _current = ProcessGroup(rank=dist.get_rank(), size=dist.get_world_size())
    return _current


def stop() -> None:
    """Leave the process group (if one was joined)."""
    global _current
    if _current.size > 1:
        import torch.distributed as dist  # lazy: backend (torch)

        if dist.is_initialized():
            dist.destroy_process_group()
    _current = SINGLE


class ShardedBatches(keras.utils.PyDataset):
    """This rank's contiguous share of each global batch of a `SeededBatches`.

    Args:
        batches: `callbacks.SeededBatches`. The global batches (one process's).
        rank: int. This process's rank.
        size: int. The number of processes.

    Raises:
        ValueError: a global batch has fewer examples than there are
            processes (every rank needs at least one).
    """

    def __init__(self, batches: CB.SeededBatches, rank: int, size: int):
        super().__init__()
        self.batches = batches
        self.rank = int(rank)
        self.size = int(size)
        smallest = min(self.global_size(i) for i in range(len(batches)))
        if smallest < self.size:
            raise ValueError(
                f"Each of the {self.size} processes needs at least one example of every batch, but a batch of "
                f"`training.batch_size`={batches.batch_size} over {batches.size} training examples leaves "
                f"{smallest} in the last batch. Choose a batch size that leaves at least {self.size}. "
                f"Received: training.batch_size={batches.batch_size}."
            )

    @property
    def epoch(self) -> int:
        return self.batches.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:  # set by `callbacks.EpochSetter`
        self.batches.epoch = value

    @property
    def num_batches(self):
        return len(self.batches)

    def __len__(self):
        return len(self.batches)

    def global_size(self, index: int) -> int:
        return min(self.batches.batch_size, self.batches.size - index * self.batches.batch_size)

    def bounds(self, index: int):
        """`(start, stop)` of this rank's rows within global batch `index` (as `np.array_split` cuts)."""
        total = self.global_size(index)
        base, extra = divmod(total, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def share(self, index: int) -> float:
        """This rank's fraction of global batch `index` (the weight of its gradient)."""
        start, stop = self.bounds(index)
        return (stop - start) / self.global_size(index)

    def __getitem__(self, index):
        start, stop = self.bounds(index)
        rows = slice(start, stop)
        return tuple(_rows(part, rows) for part in self.batches[index])


def _rows(value, rows):
    """`value[rows]` of an array or of each array of a dict (x, y or sample weights of a batch)."""
    if isinstance(value, dict):
        return {k: v[rows] for k, v in value.items()}
    return value[rows]


def _flat_numpy(variables) -> List[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v.value), order="C") for v in variables]  # keeps 0-d shapes


def broadcast_variables(variables, source: int = 0) -> None:
    """Give every rank `source`'s values of `variables` (one broadcast of their bytes: any dtype)."""
    import torch  # lazy: backend (torch)
    import torch.distributed as dist  # lazy: backend (torch)

    variables = list(variables)
    if not variables:
        return
    arrays = _flat_numpy(variables)
    payload = torch.from_numpy(np.concatenate([a.reshape(-1).view(np.uint8) for a in arrays]))
    dist.broadcast(payload, src=source)
    data, offset = payload.numpy(), 0
    for variable, array in zip(variables, arrays):
        value = data[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape)
        offset += array.nbytes
        variable.assign(value)


def sum_variables(variables) -> None:
    """Replace each variable by its sum over the ranks (computed in float64: one all-reduce)."""
    import torch  # lazy: backend (torch)
    import torch.distributed as dist  # lazy: backend (torch)

    variables = list(variables)
    if not variables:
        return
    arrays = _flat_numpy(variables)
    total = torch.from_numpy(np.concatenate([a.reshape(-1).astype("float64") for a in arrays]))
    dist.all_reduce(total)
    data, offset = total.numpy(), 0
    for variable, array in zip(variables, arrays):
        variable.assign(data[offset:offset + array.size].reshape(array.shape).astype(array.dtype))
        offset += array.size


class GradientAllReduce(keras.callbacks.Callback):
    """Make `fit` on each rank's shard train like one process on the global batch (see the module docstring).

    Put it last among the callbacks: its `on_train_begin` broadcasts rank 0's
    state after the other callbacks restored a backup, and its
    `on_train_batch_end` sums the metrics after the others saw the batch.

    Args:
        feed: `ShardedBatches`. This rank's training data.
    """

    def __init__(self, feed: ShardedBatches):
        super().__init__()
        self.feed = feed
        self.scale = 1.0 / feed.size
        self._handles: List[Any] = []

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        optimizer_variables = list(optimizer.variables) if optimizer is not None and optimizer.built else []
        broadcast_variables(list(self.model.variables) + optimizer_variables)
        for variable in self.model.trainable_variables:
            self._handles.append(variable.value.register_post_accumulate_grad_hook(self._reduce))

    def _reduce(self, parameter) -> None:
        import torch.distributed as dist  # lazy: backend (torch)

        parameter.grad.mul_(self.scale)
        dist.all_reduce(parameter.grad)

    def on_train_batch_begin(self, batch, logs=None):
        self.scale = self.feed.share(batch)

    def on_train_batch_end(self, batch, logs=None):
        if batch == len(self.feed) - 1 or self.model.stop_training:
            sum_variables(self.model.metrics_variables)

    def on_train_end(self, logs=None):
        for handle in self._handles:
            handle.remove()
        self._handles = []


class ReadOnlyBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that restores rank 0's backup and never writes (ranks other than 0)."""

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, delete_checkpoint=False)

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class ReadOnlySeedStateBackup(CB.SeedStateBackup):
    """`SeedStateBackup` that restores rank 0's random-generator states and never writes (ranks other than 0)."""

    def on_epoch_end(self, epoch, logs=None):
        pass

