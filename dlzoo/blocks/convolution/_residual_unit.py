"""What ResNet's basic and bottleneck blocks share: shortcut, residual sum, final activation (private).

A ResNet block computes `act(shortcut(x) + drop_path(branch(x)))`. The two
blocks differ only in their branch (a list of `ConvNormAct` layers, the last
one without activation); the shortcut is the identity, or a 1x1 convolution
and a norm (a "projection", He et al. 2016, option B) when the block changes
the number of channels or the resolution.
"""

import keras

from dlzoo.blocks.convolution._common import elements, fixed_weights, image_channels
from dlzoo.blocks.convolution.conv_norm_act import ConvNormAct
from dlzoo.blocks.feedforward._common import check_activation, get_activation
from dlzoo.blocks.residual.drop_path import DropPath
from dlzoo.registry import check_block_role, get_block, init_arguments
from dlzoo.validation import check_bool, check_float, check_int, check_positive_int, check_rate


class ResidualUnit(keras.layers.Layer):
    """Base of the ResNet blocks; subclasses define `_branch_layers()` and document their arguments."""

    def __init__(
        self,
        filters,
        strides,
        activation,
        norm,
        norm_epsilon,
        norm_momentum,
        use_zero_init_residual,
        drop_path_rate,
        seed,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.strides = check_positive_int("strides", strides)
        self.activation = check_activation("activation", activation)
        self.norm = check_block_role("norm", norm, "normalization")
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.norm_momentum = check_float("norm_momentum", norm_momentum, min_value=0.0, max_value=1.0)
        self.use_zero_init_residual = check_bool("use_zero_init_residual", use_zero_init_residual)
        if self.use_zero_init_residual and "gamma_initializer" not in init_arguments(get_block(self.norm)):
            raise ValueError(
                "`use_zero_init_residual=True` starts the last norm's scale (gamma) at zero, which needs a norm "
                f"with a `gamma_initializer` argument (e.g. 'batch_norm'). Received: norm={self.norm!r}."
            )
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.seed = check_int("seed", seed, allow_none=True)

    def _conv(self, name, filters, kernel_size, strides=1, last=False):
        """One branch (or shortcut) layer: PyTorch-style symmetric padding, no activation on the last."""
        return ConvNormAct(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding="symmetric",
            norm=self.norm,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
            norm_scale_init="zeros" if last and self.use_zero_init_residual else "ones",
            activation=None if last else self.activation,
            dtype=self.dtype_policy,
            name=name,
        )

    def _make_layers(self):
        # Called by the subclasses' __init__ once their own arguments are stored.
        self.branch = self._branch_layers()
        self.drop_path = DropPath(rate=self.drop_path_rate, seed=self.seed, dtype=self.dtype_policy, name="drop_path")

    def _branch_layers(self):
        raise NotImplementedError

    def _needs_projection(self, channels):
        return self.strides != 1 or channels != self.filters

    def _projection(self):
        return ConvNormAct(
            filters=self.filters,
            kernel_size=1,
            strides=self.strides,
            padding="valid",
            norm=self.norm,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
            activation=None,
            dtype=self.dtype_policy,
            name="shortcut",
        )

    def build(self, input_shape):
        channels = image_channels(input_shape, type(self).__name__)
        shape = tuple(input_shape)
        for layer in self.branch:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.shortcut = self._projection() if self._needs_projection(channels) else None
        if self.shortcut is not None:
            self.shortcut.build(tuple(input_shape))
        self.drop_path.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.branch:
            x = layer(x, training=training)
        shortcut = inputs if self.shortcut is None else self.shortcut(inputs, training=training)
        return get_activation(self.activation)(shortcut + self.drop_path(x, training=training))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.branch:
            shape = layer.compute_output_shape(shape)
        return shape

    def activation_elements_for(self, input_shape):
        """Elements kept for the backward pass: every branch and shortcut layer's, the sum and its activation."""
        channels = image_channels(input_shape, type(self).__name__)
        total, shape = 0, tuple(input_shape)
        for layer in self.branch:
            total += layer.activation_elements_for(shape)
            shape = layer.compute_output_shape(shape)
        if self._needs_projection(channels):
            total += self._projection().activation_elements_for(tuple(input_shape))
        return total + 2 * elements(shape)

    def count_params_for(self, input_shape):
        channels = image_channels(input_shape, type(self).__name__)
        total, shape = 0, tuple(input_shape)
        for layer in self.branch:
            total += layer.count_params_for(shape)
            shape = layer.compute_output_shape(shape)
        if self._needs_projection(channels):
            total += self._projection().count_params_for(tuple(input_shape))
        return total

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the branch's convolutions and the projection shortcut's, when there is one."""
        channels = image_channels(input_shape, type(self).__name__)
        total, shape = 0, tuple(input_shape)
        for layer in self.branch:
            total += layer.flops_for(shape)
            shape = layer.compute_output_shape(shape)
        if self._needs_projection(channels):
            total += self._projection().flops_for(tuple(input_shape))
        return total

    def non_trainable_params_for(self, input_shape):
        """Weights no gradient updates: the moving statistics of the branch's and the shortcut's norms."""
        channels = image_channels(input_shape, type(self).__name__)
        total, shape = 0, tuple(input_shape)
        for layer in self.branch:
            total += fixed_weights(layer, shape)
            shape = layer.compute_output_shape(shape)
        if self._needs_projection(channels):
            total += fixed_weights(self._projection(), tuple(input_shape))
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "activation": self.activation,
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "norm_momentum": self.norm_momentum,
                "use_zero_init_residual": self.use_zero_init_residual,
                "drop_path_rate": self.drop_path_rate,
                "seed": self.seed,
            }
        )
        return config
