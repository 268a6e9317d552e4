"""One Transformer layer: self-attention, optional cross-attention, feed-forward, each residual."""

import json

import keras
from keras import ops

from dlzoo.blocks.attention.grouped_query_attention import GroupedQueryAttention
from dlzoo.blocks.attention.masks import causal_mask, diagonal_mask
from dlzoo.blocks.normalization.ada_ln_zero import AdaLNZero, modulate
from dlzoo.blocks.residual.drop_path import DropPath
from dlzoo.blocks.residual.layer_scale import LayerScale
from dlzoo.registry import check_block_role, count_layer_flops, count_weights, did_you_mean, get_block, init_arguments, make_block, register_block
from dlzoo.validation import (
    check_bool,
    check_choice,
    check_divides,
    check_float,
    check_int,
    check_positive_int,
    check_rate,
)

NORM_POSITIONS = ("pre", "post")
SELF_ATTENTION_MASKS = ("causal", "bidirectional", "diagonal")
# GroupedQueryAttention arguments the layer sets itself.
_LAYER_OWNED_ATTENTION_ARGS = ("num_heads", "head_dim", "num_key_value_heads", "output_dim", "attention_dropout", "seed")


@register_block(
    "transformer_layer",
    paper="arXiv:1706.03762",
    example={
        "init_kwargs": {"num_heads": 4, "num_key_value_heads": 2, "intermediate_dim": 32},
        "inputs": {"inputs": (2, 5, 16), "padding_mask": {"shape": (2, 5), "dtype": "bool"}},
    },
)
class TransformerLayer(keras.layers.Layer):
    """A Transformer layer: self-attention, optional cross-attention and a feed-forward network.

    Each sub-block (self-attention, then cross-attention when
    `use_cross_attention=True`, then the feed-forward network) is a residual
    branch. With `norm_position="pre"` (Xiong et al., 2020; GPT-2, Llama,
    Meta's LCM) a branch computes `x + Drop(Sub(Norm(x)))`; with `"post"`
    (the original Transformer) it computes `Norm(x + Drop(Sub(x)))`. `Drop`
    is the residual dropout on the branch output, after its output projection.
    Optional LayerScale (`layer_scale_init_value`) and DropPath
    (`drop_path_rate`) act on the branch output too, in that order, just
    before the residual add.

    Attention is `GroupedQueryAttention` (multi-head when
    `num_key_value_heads` is `None`); the norm and the feed-forward network
    are any registered blocks, chosen by name. Self-attention is `"causal"`
    (decoder), `"bidirectional"` (encoder) or `"diagonal"` (each position
    attends only to itself, the Two-Tower LCM denoiser). Cross-attention
    reads keys and values from `context` and never uses RoPE.

    With `use_adaptive_norm=True` the layer is a DiT / LCM-denoiser block:
    an AdaLN-Zero modulator maps `condition` to a (shift, scale, gate) triple
    per sub-block, ordered (self-attention, cross-attention, feed-forward),
    and each branch becomes
    `x + gate * Drop(Sub(modulate(Norm(x), shift, scale)))` with
    `modulate(y, shift, scale) = y * (1 + scale) + shift`. The modulator
    starts at zero, so the layer starts as the identity.

    Args:
        num_heads: int. Number of query heads.
        intermediate_dim: int. Inner width of the feed-forward network.
        num_key_value_heads: int. Key/value heads (grouped-query attention);
            must divide `num_heads`. Defaults to `None` (= `num_heads`).
        head_dim: int. Size of each head. Defaults to `None`: the model width
            divided by `num_heads` (which must divide it).
        norm: str. Registered name of the normalization block. Defaults to
            `"layer_norm"`.
        norm_epsilon: float. Epsilon passed to each norm (when it takes
            one). Defaults to `1e-5`.
        norm_kwargs: dict. Further constructor arguments of each norm
            (e.g. `{"use_bias": False}` for `layer_norm`). Defaults to `None`.
        norm_position: str. `"pre"` or `"post"`. Defaults to `"pre"`.
        feedforward: str. Registered name of the feed-forward block
            (`"mlp"`, `"swiglu"`, `"geglu"`, `"gated_linear_unit"`,
            `"mixture_of_experts"`, ...). Defaults to `"mlp"`.
        feedforward_kwargs: dict. Extra constructor arguments of the
            feed-forward block (e.g. `{"activation": "relu"}` or
            `{"width_factor": 0.6667, "multiple_of": 256}`). Defaults to
            `None`.
        attention_kwargs: dict. Extra `GroupedQueryAttention` arguments for
            self- and cross-attention (`use_qkv_bias`, `use_output_bias`,
            `use_qk_norm`, `use_rotary_embedding` (self-attention only),
            `rope_layout`, `rope_max_wavelength`, `kernel_initializer`, ...).
            Defaults to `None`.
        self_attention_mask: str. `"causal"`, `"bidirectional"` or
            `"diagonal"`. Defaults to `"causal"`.
        use_cross_attention: bool. Add a cross-attention sub-block over
            `context`. Defaults to `False`.
        use_adaptive_norm: bool. AdaLN-Zero conditioning on `condition`;
            needs `norm_position="pre"`. Defaults to `False`.
        dropout: float. Residual dropout on each branch output. Defaults to
            `0.0`.
        attention_dropout: float. Dropout on attention probabilities.
            Defaults to `0.0`.
        drop_path_rate: float. Stochastic-depth rate of each branch.
            Defaults to `0.0`.
        layer_scale_init_value: float. When set, each branch output is
            multiplied by a learned per-channel LayerScale started at this
            value. Defaults to `None` (no LayerScale).
        seed: int. Seed of the dropout generators. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, hidden_dim)`.
        padding_mask: Optional bool tensor `(batch, k_len)`, `True` = real
            token; masks self-attention keys. `k_len` is `seq_len`, or the
            cache length when `self_attention_cache` is given. Ignored by
            the `"diagonal"` mask.
        context: Tensor `(batch, context_len, context_dim)`; required when
            `use_cross_attention=True`.
        context_padding_mask: Optional bool tensor `(batch, context_len)`.
        cross_attention_mask: Optional bool tensor
            `(batch or 1, seq_len, context_len)`, `True` = attend.
        condition: Tensor `(batch, cond_dim)` or `(batch, seq_len, cond_dim)`;
            required when `use_adaptive_norm=True`.
        self_attention_cache: Optional tensor
            `(batch, 2, max_len, num_key_value_heads, head_dim)`.
        cache_update_index: int or scalar int tensor. Position of
            `inputs[:, 0]` in the cache.
        training: bool. Whether dropout is active.

    Returns:
        Tensor `(batch, seq_len, hidden_dim)`; with `self_attention_cache`,
        the tuple `(output, new_cache)`.

    Example:

    >>> layer = dlzoo.blocks.TransformerLayer(num_heads=2, intermediate_dim=32)
    >>> tuple(layer(np.zeros((2, 5, 16))).shape)
    (2, 5, 16)

    Notes:
        With a cache, cross-attention keys and values are recomputed from
        `context` at every step (they are not cached). In `"diagonal"` mode
        the padding mask is ignored: a position only sees itself, so padding
        cannot leak in. The feed-forward block's own `dropout` is left at its
        default; this layer's `dropout` is the residual dropout.

    Reference:
        - [Vaswani et al., 2017. Attention Is All You Need](https://arxiv.org/abs/1706.03762)
        - [Xiong et al., 2020. On Layer Normalization in the Transformer Architecture](https://arxiv.org/abs/2002.04745)
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748) (AdaLN-Zero)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        num_key_value_heads=None,
        head_dim=None,
        norm="layer_norm",
        norm_epsilon=1e-5,
        norm_position="pre",
        feedforward="mlp",
        feedforward_kwargs=None,
        attention_kwargs=None,
        self_attention_mask="causal",
        use_cross_attention=False,
        use_adaptive_norm=False,
        dropout=0.0,
        attention_dropout=0.0,
        drop_path_rate=0.0,
        layer_scale_init_value=None,
        seed=None,
        norm_kwargs=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        # `num_key_value_heads` dividing `num_heads`: checked by the attention block made below.
        self.num_key_value_heads = check_positive_int("num_key_value_heads", num_key_value_heads, allow_none=True)
        self.head_dim = check_positive_int("head_dim", head_dim, allow_none=True)
        self.norm = check_block_role("norm", norm, "normalization")
        self.norm_epsilon = check_float("norm_epsilon", norm_epsilon, min_value=0.0)
        self.norm_kwargs = check_kwargs_dict("norm_kwargs", norm_kwargs, get_block(self.norm), ("epsilon",))
        self.norm_position = check_choice("norm_position", norm_position, NORM_POSITIONS)
        self.feedforward = check_block_role("feedforward", feedforward, "feedforward")
        self.feedforward_kwargs = check_kwargs_dict(
            "feedforward_kwargs", feedforward_kwargs, get_block(self.feedforward), ("intermediate_dim",)
        )
        self.attention_kwargs = check_kwargs_dict(
            "attention_kwargs", attention_kwargs, GroupedQueryAttention, _LAYER_OWNED_ATTENTION_ARGS
        )
        self.self_attention_mask = check_choice("self_attention_mask", self_attention_mask, SELF_ATTENTION_MASKS)
        self.use_cross_attention = check_bool("use_cross_attention", use_cross_attention)
        self.use_adaptive_norm = check_bool("use_adaptive_norm", use_adaptive_norm)
        if self.use_adaptive_norm and self.norm_position != "pre":
            raise ValueError(
                "`use_adaptive_norm=True` (AdaLN-Zero) needs `norm_position='pre'`: the modulation "
                "acts on the normalized branch input. "
                f"Received: use_adaptive_norm={use_adaptive_norm}, norm_position={norm_position!r}."
            )
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = check_rate("attention_dropout", attention_dropout)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.layer_scale_init_value = check_float("layer_scale_init_value", layer_scale_init_value, allow_none=True)
        self.seed = check_int("seed", seed, allow_none=True)

        # Sub-layers that do not depend on the width are made here, so bad
        # sub-block arguments fail at construction; the AdaLN modulator
        # (its width is the model width) is made in `build`.
        self.self_attention_norm = self._make_norm("self_attention_norm")
        self.self_attention = self._make_attention("self_attention", cross=False)
        if self.use_cross_attention:
            self.cross_attention_norm = self._make_norm("cross_attention_norm")
            self.cross_attention = self._make_attention("cross_attention", cross=True)
        self.feedforward_norm = self._make_norm("feedforward_norm")
        self.feedforward_block = self._make_feedforward()
        self.layer_scales = []
        if self.layer_scale_init_value is not None:
            self.layer_scales = [
                LayerScale(self.layer_scale_init_value, dtype=self.dtype_policy, name=f"{branch}_layer_scale")
                for branch in self._branches()
            ]
        self.dropout_layer = None
        if self.dropout > 0:
            self.dropout_layer = keras.layers.Dropout(
                self.dropout, seed=self._sub_seed(0), dtype=self.dtype_policy, name="dropout"
            )
        self.drop_path = None
        if self.drop_path_rate > 0:
            self.drop_path = DropPath(
                self.drop_path_rate, seed=self._sub_seed(1), dtype=self.dtype_policy, name="drop_path"
            )
        self.adaptive_modulation = None

    # ---------------------------------------------------------------- helpers
    def _branches(self):
        return ("self_attention", "cross_attention", "feedforward") if self.use_cross_attention else (
            "self_attention",
            "feedforward",
        )

    def _sub_seed(self, offset):
        return None if self.seed is None else self.seed + offset

    def _make_norm(self, name):
        return make_block(
            self.norm,
            optional={"epsilon": self.norm_epsilon},
            dtype=self.dtype_policy,
            name=name,
            **(self.norm_kwargs or {}),
        )

    def _make_attention(self, name, cross):
        kwargs = dict(self.attention_kwargs or {})
        if cross:
            kwargs["use_rotary_embedding"] = False  # context keys carry no positions
        return GroupedQueryAttention(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            num_key_value_heads=self.num_key_value_heads,
            attention_dropout=self.attention_dropout,
            seed=self._sub_seed(3 if cross else 2),
            dtype=self.dtype_policy,
            name=name,
            **kwargs,
        )

    def _make_feedforward(self):
        cls = get_block(self.feedforward)
        kwargs = dict(self.feedforward_kwargs or {})
        if "seed" in init_arguments(cls) and "seed" not in kwargs:
            kwargs["seed"] = self._sub_seed(4)
        return cls(intermediate_dim=self.intermediate_dim, dtype=self.dtype_policy, name="feedforward", **kwargs)

    def _make_modulator(self, hidden_dim, name="adaptive_modulation"):
        return AdaLNZero(hidden_dim, num_groups=len(self._branches()), dtype=self.dtype_policy, name=name)

    def _hidden_dim(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        if hidden_dim is None:
            raise ValueError(
                "TransformerLayer needs a known last (hidden) dimension. "
                f"Received: inputs_shape={tuple(inputs_shape)}."
            )
        hidden_dim = int(hidden_dim)
        if self.head_dim is None:
            check_divides("num_heads", self.num_heads, "hidden_dim", hidden_dim)
        return hidden_dim

    # ------------------------------------------------------------------ build
    def build(self, inputs_shape, context_shape=None, condition_shape=None):
        # Shapes: inputs (b, t, d); context (b, s, c); condition (b, e) or
        # (b, t, e); every branch maps (b, t, d) -> (b, t, d).
        inputs_shape = tuple(inputs_shape)
        hidden_dim = self._hidden_dim(inputs_shape)
        self.self_attention_norm.build(inputs_shape)
        self.self_attention.build(inputs_shape)
        if self.use_cross_attention:
            context_shape = inputs_shape if context_shape is None else tuple(context_shape)
            self.cross_attention_norm.build(inputs_shape)
            self.cross_attention.build(inputs_shape, context_shape)
        self.feedforward_norm.build(inputs_shape)
        self.feedforward_block.build(inputs_shape)
        for layer_scale in self.layer_scales:
            layer_scale.build(inputs_shape)
        if self.dropout_layer is not None:
            self.dropout_layer.build(inputs_shape)
        if self.drop_path is not None:
            self.drop_path.build(inputs_shape)
        if self.use_adaptive_norm:
            condition_shape = (inputs_shape[0], hidden_dim) if condition_shape is None else tuple(condition_shape)
            self.adaptive_modulation = self._make_modulator(hidden_dim)
            self.adaptive_modulation.build(condition_shape)
        self.built = True

    # ------------------------------------------------------------------- call
    def call(
        self,
        inputs,
        padding_mask=None,
        context=None,
        context_padding_mask=None,
        cross_attention_mask=None,
        condition=None,
        self_attention_cache=None,
        cache_update_index=None,
        training=None,
    ):
        self._check_call_inputs(context, condition, self_attention_cache, cache_update_index)
        modulation = [None] * len(self._branches())
        if self.use_adaptive_norm:
            chunks = self.adaptive_modulation(condition)
            modulation = [chunks[3 * g : 3 * g + 3] for g in range(len(self._branches()))]

        new_cache = []

        def self_attention_branch(h):
            mask_kwargs = self._self_attention_mask_kwargs(h, padding_mask, self_attention_cache, cache_update_index)
            out = self.self_attention(
                h,
                cache=self_attention_cache,
                cache_update_index=cache_update_index,
                training=training,
                **mask_kwargs,
            )
            if self_attention_cache is not None:
                out, cache = out
                new_cache.append(cache)
            return out

        x = self._residual(inputs, 0, self.self_attention_norm, self_attention_branch, modulation[0], training)
        branch = 1
        if self.use_cross_attention:

            def cross_attention_branch(h):
                return self.cross_attention(
                    h,
                    key_value=context,
                    padding_mask=context_padding_mask,
                    attention_mask=cross_attention_mask,
                    training=training,
                )

            x = self._residual(x, 1, self.cross_attention_norm, cross_attention_branch, modulation[1], training)
            branch = 2

        def feedforward_branch(h):
            return self.feedforward_block(h, training=training)

        x = self._residual(x, branch, self.feedforward_norm, feedforward_branch, modulation[branch], training)
        if self_attention_cache is not None:
            return x, new_cache[0]
        return x

    def _residual(self, x, index, norm, branch, modulation, training):
        """One residual sub-block, pre- or post-norm, optionally AdaLN-modulated."""
        if self.norm_position == "pre":
            h = norm(x)
            if modulation is not None:
                h = modulate(h, modulation[0], modulation[1])
            out = self._branch_output(branch(h), index, modulation, training)
            return x + out
        out = self._branch_output(branch(x), index, None, training)
        return norm(x + out)

    def _branch_output(self, out, index, modulation, training):
        if self.dropout_layer is not None:
            out = self.dropout_layer(out, training=training)
        if modulation is not None:
            gate = modulation[2]
            for _ in range(len(out.shape) - len(gate.shape)):
                gate = ops.expand_dims(gate, 1)  # per-example gate: broadcast over positions
            out = out * gate
        if self.layer_scales:
            out = self.layer_scales[index](out)
        if self.drop_path is not None:
            out = self.drop_path(out, training=training)
        return out

    def _self_attention_mask_kwargs(self, h, padding_mask, cache, cache_update_index):
        """GroupedQueryAttention mask arguments for the configured mask type."""
        if self.self_attention_mask == "diagonal":
            q_len = ops.shape(h)[1]
            if cache is None:
                return {"attention_mask": diagonal_mask(q_len)}
            # Query i sits at cache_update_index + i: it sees key j == that position only.
            k_len = ops.shape(cache)[2]
            upto = causal_mask(q_len, k_len, offset=cache_update_index)
            before = causal_mask(q_len, k_len, offset=ops.cast(cache_update_index, "int32") - 1)
            return {"attention_mask": ops.logical_and(upto, ops.logical_not(before))}
        if padding_mask is not None:
            expected = h.shape[1] if cache is None else cache.shape[2]
            if padding_mask.shape[1] is not None and expected is not None and padding_mask.shape[1] != expected:
                raise ValueError(
                    "`padding_mask` must cover the self-attention keys: (batch, seq_len), or "
                    "(batch, max_len) when decoding with `self_attention_cache`. "
                    f"Received: padding_mask.shape={tuple(padding_mask.shape)}, key length {expected}."
                )
        return {"padding_mask": padding_mask, "use_causal_mask": self.self_attention_mask == "causal"}

    def _check_call_inputs(self, context, condition, cache, cache_update_index):
        if self.use_cross_attention and context is None:
            raise ValueError("`use_cross_attention=True` needs `context` in the call. Received: context=None.")
        if not self.use_cross_attention and context is not None:
            raise ValueError(
                "`context` was given but the layer has no cross-attention. "
                "Set `use_cross_attention=True`. Received: use_cross_attention=False."
            )
        if self.use_adaptive_norm and condition is None:
            raise ValueError("`use_adaptive_norm=True` needs `condition` in the call. Received: condition=None.")
        if not self.use_adaptive_norm and condition is not None:
            raise ValueError(
                "`condition` was given but the layer is not conditioned. "
                "Set `use_adaptive_norm=True`. Received: use_adaptive_norm=False."
            )
        if cache is not None and cache_update_index is None:
            raise ValueError(
                "Decoding with `self_attention_cache` needs `cache_update_index`. Received: cache_update_index=None."
            )

    # ------------------------------------------------------------ shapes etc.
    def compute_output_shape(self, inputs_shape, self_attention_cache_shape=None):
        if self_attention_cache_shape is not None:
            return tuple(inputs_shape), tuple(self_attention_cache_shape)
        return tuple(inputs_shape)

    def activation_elements_for(self, input_shape, context_shape=None, **other_shapes):
        """Elements kept for the backward pass at a concrete input shape (Korthikanti et al., 2022).

        Per attention sub-block and its share of the layer,
        `17 s b h + 2.5 a s k b` elements, `k` the key length: the paper's
        `34 s b h + 5 a s^2 b` bytes at 16 bits, divided by two bytes per
        element. Self-attention has `k = s`; cross-attention, when present,
        adds a second term with `k` = the context length.
        """
        b, s, h = (int(d) for d in tuple(input_shape)[:3])
        a = self.num_heads
        total = 17 * s * b * h + 2.5 * a * s * s * b
        if self.use_cross_attention:
            k = int(tuple(context_shape or input_shape)[1])
            total += 17 * s * b * h + 2.5 * a * s * k * b
        return int(total)

    def non_trainable_params_for(self, input_shape, **other_shapes):
        """Weights no gradient updates: the moving statistics of BatchNorm-type norms (0 for LayerNorm/RMSNorm)."""
        norms = [self.self_attention_norm, self.feedforward_norm]
        if self.use_cross_attention:
            norms.append(self.cross_attention_norm)
        shape = tuple(input_shape)
        return sum(count_weights(n, shape) - count_weights(n, shape, trainable_only=True) for n in norms)

    def count_params_for(self, input_shape, context_shape=None, condition_shape=None, **other_shapes):
        """Exact number of weights for an input shape (and context/condition shapes).

        Other tensor shapes (masks, cache) are accepted and do not change the count.
        """
        input_shape = tuple(input_shape)
        hidden_dim = self._hidden_dim(input_shape)
        total = count_weights(self.self_attention_norm, input_shape)
        total += self.self_attention.count_params_for(input_shape)
        if self.use_cross_attention:
            context_shape = input_shape if context_shape is None else tuple(context_shape)
            total += count_weights(self.cross_attention_norm, input_shape)
            total += self.cross_attention.count_params_for(input_shape, key_value_shape=context_shape)
        total += count_weights(self.feedforward_norm, input_shape)
        total += count_weights(self.feedforward_block, input_shape)
        total += sum(layer_scale.count_params_for(input_shape) for layer_scale in self.layer_scales)
        if self.use_adaptive_norm:
            condition_shape = (input_shape[0], hidden_dim) if condition_shape is None else tuple(condition_shape)
            modulator = self.adaptive_modulation
            if modulator is None:
                modulator = self._make_modulator(hidden_dim, name="count")
            total += modulator.count_params_for(condition_shape)
        return int(total)

    def flops_for(self, input_shape, context_shape=None, condition_shape=None, **other_shapes):
        """Forward FLOPs for concrete shapes: attention(s), feed-forward and the AdaLN modulation.

        Norms, layer scales and residual additions are elementwise and count 0
        (see `dlzoo.flops`); other tensor shapes (masks) do not change it.
        """
        input_shape = tuple(input_shape)
        hidden_dim = self._hidden_dim(input_shape)
        total = count_layer_flops(self.self_attention_norm, input_shape)
        total += self.self_attention.flops_for(input_shape)
        if self.use_cross_attention:
            context_shape = input_shape if context_shape is None else tuple(context_shape)
            total += count_layer_flops(self.cross_attention_norm, input_shape)
            total += self.cross_attention.flops_for(input_shape, key_value_shape=context_shape)
        total += count_layer_flops(self.feedforward_norm, input_shape)
        total += count_layer_flops(self.feedforward_block, input_shape)
        if self.use_adaptive_norm:
            condition_shape = (input_shape[0], hidden_dim) if condition_shape is None else tuple(condition_shape)
            total += self._make_modulator(hidden_dim, name="count").flops_for(condition_shape)
        return int(total)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "num_key_value_heads": self.num_key_value_heads,
                "head_dim": self.head_dim,
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "norm_position": self.norm_position,
                "feedforward": self.feedforward,
                "feedforward_kwargs": _plain(self.feedforward_kwargs),
                "attention_kwargs": _plain(self.attention_kwargs),
                "self_attention_mask": self.self_attention_mask,
                "use_cross_attention": self.use_cross_attention,
                "use_adaptive_norm": self.use_adaptive_norm,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "drop_path_rate": self.drop_path_rate,
                "layer_scale_init_value": self.layer_scale_init_value,
                "seed": self.seed,
                "norm_kwargs": _plain(self.norm_kwargs),
            }
        )
        return config


# ------------------------------------------------------------------ checks
def check_kwargs_dict(name, value, cls, reserved=()):
    """A plain-JSON dict of extra constructor arguments of `cls` (or None)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(
            f"`{name}` must be a dict of constructor arguments or None. "
            f"Received: {name}={value!r} of type {type(value).__name__}."
        )
    allowed = [a for a in init_arguments(cls) if a not in reserved]
    for key in value:
        if key in reserved:
            raise ValueError(
                f"`{name}` must not set {key!r}: the layer sets it from its own arguments. "
                f"Received: {name}={value!r}."
            )
        if key not in allowed:
            raise ValueError(
                f"`{name}` has an argument {cls.__name__} does not take: {key!r}.{did_you_mean(key, allowed)} "
                f"Received: {name}={value!r}. Allowed keys: {', '.join(allowed)}."
            )
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must hold plain JSON values (str, number, bool, None, list, dict). Received: {name}={value!r}."
        ) from None
    return json.loads(json.dumps(value))


def _plain(value):
    """A plain-dict copy (attribute tracking may wrap stored dicts)."""
    return None if value is None else json.loads(json.dumps(dict(value)))
