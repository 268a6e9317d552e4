"""What the image-classifier converters share: convolution and BatchNorm tensors, the class count, the head.

PyTorch stores a convolution kernel as `(out, in, kh, kw)` and Keras as
`(kh, kw, in, out)`; a depthwise kernel (one filter per channel) as
`(channels, 1, kh, kw)` and `(kh, kw, channels, 1)`. BatchNorm's `weight`,
`bias`, `running_mean` and `running_var` are Keras' `gamma`, `beta`,
`moving_mean` and `moving_variance`; its `num_batches_tracked` counter has no
Keras counterpart (it only matters to PyTorch's cumulative-average momentum).
"""

from typing import Any, Dict, List, Sequence

import numpy as np

from dlzoo.checkpoints.converter import Converter, TensorRule, config_value, copy, linear


def conv_kernel(checkpoint: str, weight: str) -> TensorRule:
    """`Conv2d` weight `(out, in, kh, kw)` <-> Keras kernel `(kh, kw, in, out)`."""
    return TensorRule((checkpoint,), (weight,), "transpose (2, 3, 1, 0)",
                      lambda a: [a[0].transpose(2, 3, 1, 0)], lambda a: [a[0].transpose(3, 2, 0, 1)])


def depthwise_kernel(checkpoint: str, weight: str) -> TensorRule:
    """Depthwise `Conv2d` weight `(channels, 1, kh, kw)` <-> Keras `(kh, kw, channels, 1)` (its own inverse)."""
    return TensorRule((checkpoint,), (weight,), "transpose (2, 3, 0, 1)",
                      lambda a: [a[0].transpose(2, 3, 0, 1)], lambda a: [a[0].transpose(2, 3, 0, 1)])


def pointwise_as_dense(checkpoint: str, weight: str) -> TensorRule:
    """A 1x1 `Conv2d` weight `(out, in, 1, 1)` <-> a Dense kernel `(in, out)`."""
    return TensorRule((checkpoint,), (weight,), "drop the 1x1, transpose",
                      lambda a: [a[0][:, :, 0, 0].T], lambda a: [a[0].T[:, :, None, None]])


def squeezed(checkpoint: str, weight: str, axes: Sequence[int]) -> TensorRule:
    """A tensor with size-1 `axes` (ViT's `(1, 1, d)` class token) <-> without them."""
    axes = tuple(axes)
    return TensorRule((checkpoint,), (weight,), f"squeeze axes {axes}",
                      lambda a: [np.squeeze(a[0], axis=axes)], lambda a: [np.expand_dims(a[0], axis=axes)])


def batch_norm(checkpoint: str, weight: str) -> List[TensorRule]:
    """`BatchNorm2d` at `checkpoint` (a prefix without the dot) <-> Keras `BatchNormalization` at `weight`."""
    return [copy(f"{checkpoint}.{hf}", f"{weight}/{keras}") for hf, keras in
            (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
             ("running_var", "moving_variance"))]


def layer_norm(checkpoint: str, weight: str) -> List[TensorRule]:
    """`LayerNorm` at `checkpoint` <-> dlzoo's `layer_norm` at `weight`."""
    return [copy(f"{checkpoint}.weight", f"{weight}/scale"), copy(f"{checkpoint}.bias", f"{weight}/bias")]


BATCH_NORM_COUNTER = {r".*\.num_batches_tracked": "BatchNorm step counter (PyTorch only)"}


class ImageClassifierConverter(Converter):
    """`...Model` / `...ForImageClassification` checkpoints of an image family with `num_classes`.

    Attributes:
        head: tuple of str. The classifier's weight and bias names.
    """

    head = ("classifier.weight", "classifier.bias")

    @property
    def head_tensors(self):
        return self.head

    def num_classes(self, config: Dict[str, Any], names: Sequence[str]) -> int:
        """The classifier's size (`id2label`, else `num_labels`), or 0 for a checkpoint without classifier."""
        if self.head[0] not in names:
            return 0
        labels = config.get("id2label")
        return len(labels) if labels else int(config_value(config, "num_labels", 2))

    def image_shape(self, config: Dict[str, Any], default: int = 224) -> List[int]:
        size = config_value(config, "image_size", default)
        height, width = (size, size) if isinstance(size, int) else size
        return [int(height), int(width), int(config_value(config, "num_channels", 3))]

    def head_rules(self, params: Dict[str, Any]) -> List[TensorRule]:
        if not params["num_classes"]:
            return []
        return [linear(self.head[0], "logits/kernel"), copy(self.head[1], "logits/bias")]

    def has_task_head(self, params: Dict[str, Any]) -> bool:
        return bool(params["num_classes"])

    def head_config(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """`id2label` sized to the classifier (transformers reads the class count from it)."""
        count = params["num_classes"]
        return {"id2label": {str(i): f"LABEL_{i}" for i in range(count)}} if count else {}


__all__ = [
    "BATCH_NORM_COUNTER",
    "ImageClassifierConverter",
    "batch_norm",
    "conv_kernel",
    "depthwise_kernel",
    "layer_norm",
    "pointwise_as_dense",
    "squeezed",
]
