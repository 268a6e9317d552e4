"""AdaLN-Zero: shift/scale/gate modulation regressed from a condition, zero at init."""

import keras
from keras import ops

from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_positive_int


def modulate(x, shift, scale):
    """Adaptive affine modulation `x * (1 + scale) + shift` (DiT's adaLN).

    The `1 + scale` form makes a zero `scale` the identity, so a zero-initialised
    modulator leaves `x` unchanged. When `shift`/`scale` have a lower rank than
    `x`, they are per-example (or per-batch-prefix) and get singleton axes
    inserted after the batch axis, so `(batch, hidden_dim)` modulates every
    position of a `(batch, seq_len, hidden_dim)` sequence (instead of
    silently broadcasting against the sequence axis when `batch == seq_len`).

    Args:
        x: Tensor of shape `(batch, ..., hidden_dim)`, usually `norm(x)`.
        shift: Tensor of shape `(batch, ..., hidden_dim)` or `(batch, hidden_dim)`.
        scale: Tensor with the same shape as `shift`.

    Returns:
        Tensor with the shape of `x`.
    """
    shift = _expand_like(shift, x)
    scale = _expand_like(scale, x)
    return ops.add(ops.multiply(x, ops.add(1.0, scale)), shift)


def _expand_like(t, x):
    missing = len(x.shape) - len(t.shape)
    if missing < 0:
        raise ValueError(
            f"`shift`/`scale` must not have a higher rank than `x`. "
            f"Received: x.shape={tuple(x.shape)}, shift/scale shape={tuple(t.shape)}."
        )
    for _ in range(missing):
        t = ops.expand_dims(t, 1)
    return t


@register_block(
    "ada_ln_zero",
    paper="arXiv:2212.09748",
    example={"init_kwargs": {"hidden_dim": 8, "num_groups": 3}, "inputs": (2, 5, 16)},
)
class AdaLNZero(keras.layers.Layer):
    """AdaLN-Zero modulator: shift, scale and gate per sub-block from a condition.

    Regresses the modulation parameters of a DiT-style block from a
    conditioning vector (e.g. a timestep embedding):
    `m = Linear_{cond_dim -> 3 * num_groups * hidden_dim}(SiLU(condition))`,
    split into `3 * num_groups` chunks of width `hidden_dim`. The linear's
    kernel **and** bias start at zero ("adaLN-Zero"), so every shift, scale and
    gate is zero at initialisation and each gated residual block starts as the
    identity.

    The chunks come group by group, each group as `(shift, scale, gate)`. With
    `num_groups=3` that is `shift_0, scale_0, gate_0, shift_1, ..., gate_2`, the
    order of Meta LCM's denoiser ((self-attention, cross-attention, FFN) x
    (shift, scale, gate)). Apply group `g` to sub-layer `g` as a gated
    pre-norm residual:

        x = x + gate_g * sublayer_g(modulate(norm_g(x), shift_g, scale_g))

    where `modulate(x, shift, scale) = x * (1 + scale) + shift` is the
    function exported next to this class. DiT's block uses `num_groups=2`
    (attention, MLP); LCM's denoiser uses `num_groups=3`. DiT's final layer
    modulates without a gate: `use_gate=False` gives `(shift, scale)` per
    group (`2 * num_groups` chunks).

    Args:
        hidden_dim: int. Width of the modulated stream (size of each chunk).
        num_groups: int. Number of modulated sub-blocks; the layer returns
            `3 * num_groups` tensors. Defaults to `1`.
        use_bias: bool. Whether the modulation linear has a bias.
            Defaults to `True`.
        use_gate: bool. Whether each group has a gate (`(shift, scale,
            gate)`); `False` gives `(shift, scale)` (DiT's final layer).
            Defaults to `True`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        condition: Tensor of shape `(..., cond_dim)`: one conditioning vector
            per example (`(batch, cond_dim)`) or per position
            (`(batch, seq_len, cond_dim)`, as in LCM).

    Returns:
        A tuple of `3 * num_groups` tensors of shape `(..., hidden_dim)`:
        `(shift_0, scale_0, gate_0, shift_1, scale_1, gate_1, ...)`
        (`2 * num_groups`, `(shift_0, scale_0, shift_1, ...)`, with
        `use_gate=False`).

    Example:

    >>> layer = dlzoo.blocks.AdaLNZero(hidden_dim=8, num_groups=3)
    >>> outputs = layer(np.ones((2, 16)))
    >>> len(outputs), tuple(outputs[0].shape)
    (9, (2, 8))

    Notes:
        Normalization itself is not part of this block: use any norm (DiT
        uses a LayerNorm without affine parameters, LCM a normal
        RMSNorm/LayerNorm with weights) before `modulate`. Per-example
        `(batch, hidden_dim)` modulation of a sequence is broadcast over
        positions by `modulate`. For the gate, expand it yourself
        (`ops.expand_dims(gate, 1)`) when its rank is lower than `x`'s.

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748)
    """

    def __init__(self, hidden_dim, num_groups=1, use_bias=True, use_gate=True, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_groups = check_positive_int("num_groups", num_groups)
        self.use_bias = check_bool("use_bias", use_bias)
        self.use_gate = check_bool("use_gate", use_gate)
        self.num_chunks = (3 if self.use_gate else 2) * self.num_groups
        self.modulation = keras.layers.Dense(
            self.num_chunks * self.hidden_dim,
            use_bias=self.use_bias,
            kernel_initializer="zeros",
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="modulation",
        )

    def build(self, input_shape):
        # Shapes: condition (..., cond_dim) -> m (..., num_chunks * hidden_dim)
        # -> num_chunks (3 or 2 per group) chunks (..., hidden_dim).
        self.modulation.build(input_shape)
        self.built = True

    def call(self, condition):
        m = self.modulation(ops.silu(condition))
        return tuple(ops.split(m, self.num_chunks, axis=-1))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
        return tuple(shape for _ in range(self.num_chunks))

    def count_params_for(self, input_shape):
        cond_dim = int(input_shape[-1])
        width = self.num_chunks * self.hidden_dim
        return cond_dim * width + (width if self.use_bias else 0)

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: the modulation projection of the condition (`num_chunks * hidden_dim` outputs)."""
        return dense_flops(input_shape, self.num_chunks * self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_groups": self.num_groups,
                "use_bias": self.use_bias,
                "use_gate": self.use_gate,
            }
        )
        return config
