"""The LCM PreNet: sentence embeddings -> model width (+ optional absolute positions)."""

import math

import keras
from keras import ops

from dlzoo.blocks.position.learned_position_embedding import LearnedPositionEmbedding
from dlzoo.blocks.position.sinusoidal_position_embedding import SinusoidalPositionEmbedding
from dlzoo.blocks.lcm._initializers import check_initializer_arg, resolve_bias, resolve_kernel
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_choice, check_float, check_int, check_positive_int, check_rate

POSITIONS = ("none", "learned", "sine")


@register_block(
    "concept_prenet",
    paper="arXiv:2412.08821",
    example={
        "init_kwargs": {"hidden_dim": 16, "position": "learned", "max_sequence_length": 8},
        "inputs": (2, 5, 12),
    },
)
class ConceptPreNet(keras.layers.Layer):
    """PreNet of a Large Concept Model: a biased linear map from concept space to model width.

    The Base-LCM `LCMFrontend` and the Two-Tower `EncoderFrontend`: the
    (already normalized) sentence embeddings are optionally multiplied by
    `sqrt(hidden_dim)` (`scale_embeddings`, off in every reference arch), mapped
    by `Linear(embedding_dim -> hidden_dim)` with a bias, then absolute
    positions are added when `position` is `"learned"` (a table initialised
    from `N(0, position_initializer_stddev^2)`: 0.006 in Base-LCM, 1.0 in the
    Two-Tower encoder) or `"sine"` (tensor2tensor layout, sin half then cos
    half), and dropout is applied. With RoPE the positions live in the
    attention layers instead, so use `position="none"`. The embedding
    normalizer is *not* part of the PreNet (as in the reference, it is applied
    outside the model).

    Args:
        hidden_dim: int. Model width `d`.
        position: str. `"none"`, `"learned"` or `"sine"`. Defaults to `"none"`.
        max_sequence_length: int or None. Rows of the learned table (needed
            for `"learned"`). Defaults to `None`.
        position_initializer_stddev: float. Std of the learned table's
            normal initializer. Defaults to `0.006` (the SONAR std, Base-LCM).
        scale_embeddings: bool. Multiply the input by `sqrt(hidden_dim)`
            before the linear map. Defaults to `False`.
        use_bias: bool. Bias of the linear map. Defaults to `True`.
        dropout: float. Dropout on the output. Defaults to `0.0`.
        kernel_initializer: str or dict. `"torch_default"` (PyTorch
            `nn.Linear`, the reference's "kaiming_uniform") or any Keras
            initializer. Defaults to `"torch_default"`.
        bias_initializer: str or dict. `"torch_default"` (`U(+-1/sqrt(fan_in))`)
            or any Keras initializer. Defaults to `"torch_default"`.
        seed: int or None. Seed of the dropout. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, embedding_dim)` of normalized concepts.
        start_index: int or scalar int tensor. Position of `inputs[:, 0]`
            (KV-cached decoding). Defaults to `0`.
        training: bool. Whether dropout is active.

    Returns:
        Tensor `(batch, seq_len, hidden_dim)`.

    Example:

    >>> layer = dlzoo.lcm.ConceptPreNet(hidden_dim=16)
    >>> tuple(layer(np.zeros((2, 5, 12))).shape)
    (2, 5, 16)

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.1 (PreNet)
    """

    def __init__(
        self,
        hidden_dim,
        position="none",
        max_sequence_length=None,
        position_initializer_stddev=0.006,
        scale_embeddings=False,
        use_bias=True,
        dropout=0.0,
        kernel_initializer="torch_default",
        bias_initializer="torch_default",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.position = check_choice("position", position, POSITIONS)
        self.max_sequence_length = check_positive_int("max_sequence_length", max_sequence_length, allow_none=True)
        if self.position == "learned" and self.max_sequence_length is None:
            raise ValueError(
                "`position='learned'` needs `max_sequence_length` (rows of the position table). "
                "Received: max_sequence_length=None."
            )
        self.position_initializer_stddev = check_float(
            "position_initializer_stddev", position_initializer_stddev, min_value=0.0, min_inclusive=False
        )
        self.scale_embeddings = check_bool("scale_embeddings", scale_embeddings)
        self.use_bias = check_bool("use_bias", use_bias)
        self.dropout = check_rate("dropout", dropout)
        self.kernel_initializer = check_initializer_arg("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer_arg("bias_initializer", bias_initializer)
        self.seed = check_int("seed", seed, allow_none=True)
        self.position_embedding = None
        if self.position == "learned":
            self.position_embedding = LearnedPositionEmbedding(
                self.max_sequence_length,
                initializer_stddev=self.position_initializer_stddev,
                dtype=self.dtype_policy,
                name="position_embedding",
            )
        elif self.position == "sine":
            self.position_embedding = SinusoidalPositionEmbedding(
                layout="concat", dtype=self.dtype_policy, name="position_embedding"
            )
        self.dropout_layer = None
        if self.dropout > 0:
            self.dropout_layer = keras.layers.Dropout(self.dropout, seed=self.seed, dtype=self.dtype_policy)

    def build(self, input_shape):
        # Shapes: inputs (b, n, s) -> projection (b, n, d).
        input_shape = tuple(input_shape)
        fan_in = int(input_shape[-1])
        self.projection = keras.layers.Dense(
            self.hidden_dim,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.get(resolve_kernel(self.kernel_initializer)),
            bias_initializer=keras.initializers.get(resolve_bias(self.bias_initializer, fan_in)),
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(input_shape)
        out_shape = input_shape[:-1] + (self.hidden_dim,)
        if self.position_embedding is not None:
            self.position_embedding.build(out_shape)
        self.built = True

    def call(self, inputs, start_index=0, training=None):
        x = inputs
        if self.scale_embeddings:
            x = x * ops.cast(math.sqrt(self.hidden_dim), x.dtype)
        x = self.projection(x)
        if self.position_embedding is not None:
            x = x + self.position_embedding(x, start_index=start_index)
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.hidden_dim,)

    def count_params_for(self, input_shape):
        s = int(input_shape[-1])
        total = s * self.hidden_dim + (self.hidden_dim if self.use_bias else 0)
        if self.position == "learned":
            total += self.max_sequence_length * self.hidden_dim
        return total

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the projection to `hidden_dim` (positions are added, not multiplied)."""
        return dense_flops(input_shape, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "position": self.position,
                "max_sequence_length": self.max_sequence_length,
                "position_initializer_stddev": self.position_initializer_stddev,
                "scale_embeddings": self.scale_embeddings,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "seed": self.seed,
            }
        )
        return config
