"""Registry entries for the Keras layers dlzoo plans use, with their exact weight counts and FLOPs.

FLOPs follow `dlzoo.flops`: dense and convolution products only; the
layers without weights (add, pooling, ...) and BatchNorm and Embedding
(elementwise, look-up) count 0.
"""

import math

import keras

from dlzoo.flops import conv_flops, dense_flops
from dlzoo.registry import register_keras_layer


def _no_weights(layer, *input_shapes, **other_shapes):
    return 0


def _dense(layer, input_shape, **other_shapes):
    fan_in = int(input_shape[-1])
    return fan_in * layer.units + (layer.units if layer.use_bias else 0)


def _embedding(layer, input_shape=None, **other_shapes):
    return layer.input_dim * layer.output_dim


def _conv(layer, input_shape, **other_shapes):
    channels = int(input_shape[-1]) if layer.data_format == "channels_last" else int(input_shape[1])
    kernel = math.prod(layer.kernel_size) * (channels // layer.groups) * layer.filters
    return kernel + (layer.filters if layer.use_bias else 0)


def _depthwise_conv(layer, input_shape, **other_shapes):
    channels = int(input_shape[-1]) if layer.data_format == "channels_last" else int(input_shape[1])
    kernel = math.prod(layer.kernel_size) * channels * layer.depth_multiplier
    return kernel + (channels * layer.depth_multiplier if layer.use_bias else 0)


def _batch_normalization(layer, input_shape, **other_shapes):
    channels = int(input_shape[layer.axis])
    # gamma, beta (trainable) and the moving mean and variance (not trainable).
    return channels * (2 + int(layer.center) + int(layer.scale))


def _batch_normalization_statistics(layer, input_shape, **other_shapes):
    return 2 * int(input_shape[layer.axis])


def _no_flops(layer, *input_shapes, **other_shapes):
    return 0


def _dense_flops(layer, input_shape, **other_shapes):
    return dense_flops(input_shape, layer.units)


def _conv_flops(layer, input_shape, **other_shapes):
    channels = int(input_shape[-1]) if layer.data_format == "channels_last" else int(input_shape[1])
    return conv_flops(layer.compute_output_shape(tuple(input_shape)), layer.kernel_size, channels // layer.groups)


def _depthwise_conv_flops(layer, input_shape, **other_shapes):
    # Each output channel reads one input channel: kernel_size terms per output element.
    return conv_flops(layer.compute_output_shape(tuple(input_shape)), layer.kernel_size, 1)


def _example(inputs, **init_kwargs):
    """A small instance for the conformance test (closed-form count == built count)."""
    return {"init_kwargs": init_kwargs, "inputs": inputs}


register_keras_layer("dense", keras.layers.Dense, _dense, flops=_dense_flops, example=_example((2, 3, 5), units=4))
register_keras_layer(
    "embedding",
    keras.layers.Embedding,
    _embedding,
    category="embedding",
    flops=_no_flops,
    example=_example((2, 3), input_dim=7, output_dim=4),
)
register_keras_layer(
    "conv_2d",
    keras.layers.Conv2D,
    _conv,
    flops=_conv_flops,
    example=_example((1, 7, 7, 4), filters=8, kernel_size=3, strides=2, groups=2),
)
register_keras_layer(
    "depthwise_conv_2d",
    keras.layers.DepthwiseConv2D,
    _depthwise_conv,
    flops=_depthwise_conv_flops,
    example=_example((1, 6, 6, 4), kernel_size=3, depth_multiplier=2, padding="same"),
)
register_keras_layer(
    "batch_norm",
    keras.layers.BatchNormalization,
    _batch_normalization,
    category="normalization",
    flops=_no_flops,
    non_trainable_params=_batch_normalization_statistics,
    example=_example((2, 4, 4, 3)),
)
for _name, _cls, _example_args in (
    ("add", keras.layers.Add, _example([(2, 3), (2, 3)])),
    ("multiply", keras.layers.Multiply, _example([(2, 3), (2, 3)])),
    ("concatenate", keras.layers.Concatenate, _example([(2, 3), (2, 3)])),
    ("dropout", keras.layers.Dropout, _example((2, 3), rate=0.5)),
    ("flatten", keras.layers.Flatten, _example((2, 3, 4))),
    ("reshape", keras.layers.Reshape, _example((2, 6), target_shape=(2, 3))),
    ("activation", keras.layers.Activation, _example((2, 3), activation="relu")),
    ("identity", keras.layers.Identity, _example((2, 3))),
    ("rescaling", keras.layers.Rescaling, _example((2, 3), scale=2.0)),
    ("global_average_pooling_2d", keras.layers.GlobalAveragePooling2D, _example((1, 4, 4, 3))),
    ("max_pooling_2d", keras.layers.MaxPooling2D, _example((1, 6, 6, 3), pool_size=3, strides=2)),
    ("zero_padding_2d", keras.layers.ZeroPadding2D, _example((1, 4, 4, 3), padding=1)),
):
    register_keras_layer(_name, _cls, _no_weights, flops=_no_flops, example=_example_args)
