"""`dlzoo.distribute`: put a model on a (data, model) device mesh with Keras' own distribution API.

Sets `keras.distribution.set_distribution(...)` (a `DataParallel` or a
`ModelParallel` with the layout map generated from the model's blocks, see
`dlzoo.distribution.layout`) *before* the model's variables are created, then
builds the model under it, so every variable is created sharded and the
batch is split over the data axis. A composition file's `distribution:`
section does the same for `dlzoo run` (`distribution_from_config`).

Keras 3 implements `keras.distribution` for the JAX backend; under
TensorFlow it runs without sharding and under PyTorch it has no
implementation (data-parallel torch runs use `torchrun` instead), so both
are refused with a message saying so.
"""

from typing import Any, Dict, Optional, Sequence, Tuple

from dlzoo.distribution.layout import (
    DATA_AXIS,
    MODEL_AXIS,
    STRATEGIES,
    check_mesh,
    check_strategy,
    layout_patterns,
    resolved_layouts,
    variable_specs,
)
from dlzoo.registry import did_you_mean

SUPPORTED_BACKENDS = ("jax",)

#: Keys of a composition file's `distribution:` section.
CONFIG_KEYS = ("strategy", "mesh")


def check_backend() -> str:
    """The Keras backend, if Keras distributes on it (JAX); a ValueError saying what is supported otherwise."""
    import keras

    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise ValueError(
            "Distributing a model over a device mesh needs the JAX backend (KERAS_BACKEND=jax): Keras 3 "
            "implements keras.distribution's DataParallel and ModelParallel (sharded variables) for JAX only; "
            "under TensorFlow it runs without sharding, under PyTorch it has no implementation (train "
            "data-parallel with torch through `dlzoo run` and torchrun). "
            f"Received: backend={backend!r}."
        )
    return backend


def default_mesh(strategy: str, device_count: int) -> Tuple[int, int]:
    """`(devices, 1)` for `"data"` and `"fsdp-like"`, `(1, devices)` for `"model"`."""
    return (1, device_count) if strategy == "model" else (device_count, 1)


def check_mesh_fits(mesh: Tuple[int, int], device_count: int, strategy: str) -> None:
    data, model = mesh
    if device_count % (data * model) != 0:
        raise ValueError(
            f"The mesh's size (data x model = {data} x {model} = {data * model}) must divide the number of devices "
            f"({device_count}). Received: mesh={mesh}."
        )
    if strategy == "data" and model != 1:
        raise ValueError(
            f"strategy='data' replicates every weight, so the mesh's model axis must be 1 (use strategy='model' or "
            f"'fsdp-like' to shard weights). Received: mesh={mesh}."
        )


def device_mesh(mesh, devices: Optional[Sequence[Any]] = None):
    """A `keras.distribution.DeviceMesh` of shape `mesh` with axes `("data", "model")` on the first devices."""
    import keras

    data, model = check_mesh(mesh)
    devices = list(devices) if devices is not None else keras.distribution.list_devices()
    return keras.distribution.DeviceMesh((data, model), (DATA_AXIS, MODEL_AXIS), devices[: data * model])


def make_distribution(source, mesh=None, strategy: str = "model", devices=None, extensions=None, **params):
    """The `keras.distribution.Distribution` that lays out `source` on `mesh` (not yet set).

    Args:
        source: a name, path, dict or model (see `dlzoo.build`).
        mesh: `(data, model)` pair; defaults to every device on the data
            axis (`"data"`, `"fsdp-like"`) or on the model axis (`"model"`).
        strategy: str. `"data"`, `"model"` (default) or `"fsdp-like"`.
        devices: the devices to use. Defaults to `keras.distribution.list_devices()`.
        extensions, **params: as for `dlzoo.build`.

    Raises:
        ValueError: unknown strategy, a mesh that does not divide the device
            count, a model axis that does not divide a sharded dimension
            (attention heads, feed-forward width), a backend Keras does not
            distribute on.
    """
    import keras

    check_strategy(strategy)
    check_backend()
    devices = list(devices) if devices is not None else keras.distribution.list_devices()
    mesh = default_mesh(strategy, len(devices)) if mesh is None else check_mesh(mesh)
    check_mesh_fits(mesh, len(devices), strategy)
    layouts = resolved_layouts(variable_specs(source, extensions=extensions, **params), mesh, strategy)
    mesh_object = device_mesh(mesh, devices)
    layout_map = keras.distribution.LayoutMap(mesh_object)
    for pattern, axes in layout_patterns(layouts).items():
        layout_map[pattern] = keras.distribution.TensorLayout(axes, mesh_object)
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name=DATA_AXIS)


def distribute(model_or_name, mesh=None, strategy: str = "model", devices=None, extensions=None, **params):
    """Set a distribution for a model and build it under it: every variable is created with its layout.

    A name, path or dict is built under the distribution; an already built
    model is rebuilt from its config under it and its weights are copied in
    (a model trained on one device continues sharded). The distribution
    stays set (`keras.distribution.distribution()`), so models built or
    loaded afterwards are laid out the same way; call
    `keras.distribution.set_distribution(None)` to go back to one device.

    Args:
        model_or_name: a name, path, dict or `ZooModel`.
        mesh: `(data, model)` pair of ints. Defaults to all devices on the
            data axis (`"data"`, `"fsdp-like"`) or the model axis (`"model"`).
        strategy: str. `"data"` (replicated weights, split batch), `"model"`
            (weights split over the model axis by the blocks' rules, batch
            over the data axis) or `"fsdp-like"` (as `"model"`, and every
            weight also split over the data axis). Defaults to `"model"`.
        devices: devices to use. Defaults to all (`keras.distribution.list_devices()`).
        extensions, **params: as for `dlzoo.build`.

    Returns:
        The model, its variables sharded as the layout map says.

    Example (JAX with 8 devices, e.g. `XLA_FLAGS=--xla_force_host_platform_device_count=8`):

        model = dlzoo.distribute("gpt-tiny", mesh=(2, 4), strategy="model")
        model.compile(...); model.fit(...)   # each batch split in 2, each layer in 4
    """
    import keras

    from dlzoo import builder
    from dlzoo.zoo_model import ZooModel, build_resolved

    built = model_or_name if isinstance(model_or_name, keras.Model) else None
    if built is not None and not isinstance(built, ZooModel):
        raise TypeError(
            f"dlzoo.distribute takes a name, path, dict or ZooModel. Received: {type(built).__name__}."
        )
    distribution = make_distribution(model_or_name, mesh, strategy, devices, extensions=extensions, **params)
    keras.distribution.set_distribution(distribution)
    if built is None:
        return builder.build(model_or_name, extensions=extensions, **params)
    model = build_resolved(built.zoo_config if not (extensions or params) else builder.resolve(
        built.zoo_config, extensions=extensions, **params))
    model.set_weights(built.get_weights())
    return model


def parse_mesh(text: str) -> Tuple[int, int]:
    """`"2x4"` -> `(2, 4)` (the form of `dlzoo describe --mesh` and of a composition file, where a list is a grid)."""
    parts = text.lower().split("x") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"A mesh is written DATAxMODEL with positive integers, e.g. 2x4. Received: mesh={text!r}.")
    return int(parts[0]), int(parts[1])


def check_distribution_config(section: Any) -> Dict[str, Any]:
    """A composition file's `distribution:` section checked and completed (`strategy` default `"model"`).

    `mesh` is a string `"DATAxMODEL"` (`"2x4"`): in a composition file a
    list is a grid of values to try.
    """
    if not isinstance(section, dict):
        raise ValueError(
            "`distribution` must be a mapping such as {strategy: model, mesh: 2x4}. "
            f"Received: distribution={section!r}."
        )
    unknown = [k for k in section if k not in CONFIG_KEYS]
    if unknown:
        raise ValueError(
            f"Unknown key {unknown[0]!r} in `distribution`.{did_you_mean(unknown[0], CONFIG_KEYS)} "
            f"Allowed: {', '.join(CONFIG_KEYS)}."
        )
    strategy = check_strategy(section.get("strategy", "model"))
    mesh = section.get("mesh")
    if mesh is not None:
        parse_mesh(mesh)
    return {"strategy": strategy, "mesh": mesh}


def check_batches(data_axis: int, batch_sizes: Dict[str, int], split_sizes: Dict[str, int]) -> None:
    """Every batch `fit` and `evaluate` will see must split over the data axis (JAX shards no ragged batch)."""
    for split, size in split_sizes.items():
        batch = batch_sizes[split]
        ragged = [b for b in ({batch, size % batch} - {0}) if b % data_axis]
        if ragged:
            raise ValueError(
                f"Under a distribution every batch must split evenly over the mesh's data axis ({data_axis}); the "
                f"{split} split has {size} examples in batches of {batch}, so a batch of {ragged[0]} cannot. Choose "
                f"batch sizes and split sizes that are multiples of {data_axis}. Received: batch_size={batch}."
            )


def distribution_from_config(section: Dict[str, Any], model_config: Dict[str, Any]):
    """Set the distribution a composition file's `distribution:` section asks for, for `model_config`."""
    import keras

    section = check_distribution_config(section)
    mesh = None if section["mesh"] is None else parse_mesh(section["mesh"])
    distribution = make_distribution(model_config, mesh, section["strategy"])
    keras.distribution.set_distribution(distribution)
    return distribution


__all__ = [
    "CONFIG_KEYS",
    "STRATEGIES",
    "SUPPORTED_BACKENDS",
    "check_backend",
    "check_batches",
    "check_distribution_config",
    "default_mesh",
    "device_mesh",
    "distribute",
    "distribution_from_config",
    "make_distribution",
    "parse_mesh",
]
