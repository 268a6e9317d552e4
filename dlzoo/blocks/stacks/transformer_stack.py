"""A stack of Transformer layers with an optional final norm and a stacked KV cache."""

import keras
from keras import ops

from dlzoo.blocks.stacks.transformer_layer import TransformerLayer, _plain
from dlzoo.registry import count_layer_flops, count_weights, register_block
from dlzoo.validation import check_bool, check_int, check_positive_int, check_rate


@register_block(
    "transformer_stack",
    paper="arXiv:1706.03762",
    example={
        "init_kwargs": {
            "num_layers": 2,
            "num_heads": 4,
            "num_key_value_heads": 2,
            "intermediate_dim": 32,
            "norm": "rms_norm",
            "feedforward": "swiglu",
            "attention_kwargs": {"use_rotary_embedding": True},
        },
        "inputs": {"inputs": (2, 5, 16), "padding_mask": {"shape": (2, 5), "dtype": "bool"}},
    },
)
class TransformerStack(keras.layers.Layer):
    """`num_layers` Transformer layers, then an optional final norm and dropout.

    The trunk of an encoder, decoder or denoiser: identical
    `TransformerLayer`s (named `transformer_layer_0`, `transformer_layer_1`, ...) applied in turn,
    followed by a final norm of the same kind as the layers' (the pre-norm
    convention: without it a pre-norm stack would output an unnormalized
    residual stream) and `final_dropout`. Every layer receives the same
    masks, `context` and `condition`.

    For incremental decoding the stack keeps one KV cache for all layers,
    `(batch, num_layers, 2, max_len, num_key_value_heads, head_dim)`; make an
    empty one with `TransformerStack.make_cache(...)` or
    `stack.empty_cache(batch_size, max_length)`. A decoding loop may keep
    one cache tensor per layer instead and call `decode_layers` (no
    slicing and re-stacking of the whole cache at every step).

    Args:
        num_layers: int. Number of layers.
        num_heads: int. Number of query heads.
        intermediate_dim: int. Inner width of each feed-forward network.
        num_key_value_heads: int. Key/value heads; must divide `num_heads`.
            Defaults to `None` (= `num_heads`).
        head_dim: int. Size of each head. Defaults to `None` (width /
            `num_heads`).
        norm: str. Registered name of the norm (layers and final norm).
            Defaults to `"layer_norm"`.
        norm_epsilon: float. Epsilon of every norm. Defaults to `1e-5`.
        norm_kwargs: dict. Further constructor arguments of every norm.
            Defaults to `None`.
        norm_position: str. `"pre"` or `"post"`. Defaults to `"pre"`.
        feedforward: str. Registered name of the feed-forward block.
            Defaults to `"mlp"`.
        feedforward_kwargs: dict. Extra feed-forward arguments. Defaults to
            `None`.
        attention_kwargs: dict. Extra `GroupedQueryAttention` arguments.
            Defaults to `None`.
        self_attention_mask: str. `"causal"`, `"bidirectional"` or
            `"diagonal"`. Defaults to `"causal"`.
        use_cross_attention: bool. Cross-attention over `context` in every
            layer. Defaults to `False`.
        use_adaptive_norm: bool. AdaLN-Zero conditioning in every layer.
            Defaults to `False`.
        dropout: float. Residual dropout of each branch. Defaults to `0.0`.
        attention_dropout: float. Dropout on attention probabilities.
            Defaults to `0.0`.
        drop_path_rate: float. Stochastic-depth rate of the last layer; layer
            `i` uses `drop_path_rate * i / (num_layers - 1)`. Defaults to
            `0.0`.
        layer_scale_init_value: float. LayerScale initial value, or `None`
            for no LayerScale. Defaults to `None`.
        use_final_norm: bool. Apply a final norm after the last layer.
            Defaults to `True`.
        final_dropout: float. Dropout after the final norm. Defaults to
            `0.0`.
        seed: int. Base seed of the dropout generators (layer `i` gets
            `seed + 10 * i`). Defaults to `None`.
        return_hidden_states: bool. Also return each layer's output (for
            feature extraction). Defaults to `False`.
        remat: bool. Gradient checkpointing: in training, keep only each
            layer's input and recompute the layer during backpropagation
            (`keras.remat`: `jax.checkpoint`, `torch.utils.checkpoint`,
            `tf.recompute_grad`). Needs `dropout`, `attention_dropout` and
            `drop_path_rate` at 0. Defaults to `False`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, hidden_dim)`.
        padding_mask: Optional bool tensor `(batch, k_len)` for self-attention
            keys (`k_len = max_len` when decoding with `cache`).
        context: Tensor `(batch, context_len, context_dim)` for
            cross-attention.
        context_padding_mask: Optional bool tensor `(batch, context_len)`.
        cross_attention_mask: Optional bool tensor
            `(batch or 1, seq_len, context_len)`.
        condition: Tensor `(batch, cond_dim)` or `(batch, seq_len, cond_dim)`
            for AdaLN-Zero.
        cache: Optional tensor
            `(batch, num_layers, 2, max_len, num_key_value_heads, head_dim)`.
        cache_update_index: int or scalar int tensor. Position of
            `inputs[:, 0]` in the cache.
        training: bool. Whether dropout is active.

    Returns:
        Tensor `(batch, seq_len, hidden_dim)`; with `cache`, the tuple
        `(output, new_cache)`; with `return_hidden_states=True`, the tuple
        `(output, hidden_states)` where `hidden_states` is a tuple of the
        `num_layers` layer outputs (before the final norm).

    Example:

    >>> stack = dlzoo.blocks.TransformerStack(num_layers=2, num_heads=2, intermediate_dim=32)
    >>> tuple(stack(np.zeros((2, 5, 16))).shape)
    (2, 5, 16)

    Notes:
        With `remat=True` the recomputed forward pass would draw new dropout
        masks (Keras seed generators advance on every call), so the
        gradients would not match the forward pass; remat therefore
        refuses any non-zero dropout rate. It costs about one extra forward
        pass per step.
        The linear increase of the drop-path rate with depth is the
        stochastic-depth paper's "linear decay" rule (Huang et al., 2016).
        A post-norm stack already ends with a norm; set
        `use_final_norm=False` there for the original Transformer.

    Reference:
        - [Vaswani et al., 2017. Attention Is All You Need](https://arxiv.org/abs/1706.03762)
        - [Xiong et al., 2020. On Layer Normalization in the Transformer Architecture](https://arxiv.org/abs/2002.04745)
    """

    def __init__(
        self,
        num_layers,
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
        use_final_norm=True,
        final_dropout=0.0,
        seed=None,
        norm_kwargs=None,
        return_hidden_states=False,
        remat=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.return_hidden_states = check_bool("return_hidden_states", return_hidden_states)
        self.use_final_norm = check_bool("use_final_norm", use_final_norm)
        self.final_dropout = check_rate("final_dropout", final_dropout)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.seed = check_int("seed", seed, allow_none=True)
        self.remat = check_bool("remat", remat)
        layer_args = dict(
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            num_key_value_heads=num_key_value_heads,
            head_dim=head_dim,
            norm=norm,
            norm_epsilon=norm_epsilon,
            norm_kwargs=norm_kwargs,
            norm_position=norm_position,
            feedforward=feedforward,
            feedforward_kwargs=feedforward_kwargs,
            attention_kwargs=attention_kwargs,
            self_attention_mask=self_attention_mask,
            use_cross_attention=use_cross_attention,
            use_adaptive_norm=use_adaptive_norm,
            dropout=dropout,
            attention_dropout=attention_dropout,
            layer_scale_init_value=layer_scale_init_value,
        )
        self.transformer_layers = []
        for i in range(self.num_layers):
            rate = self.drop_path_rate * i / max(self.num_layers - 1, 1)
            self.transformer_layers.append(
                TransformerLayer(
                    **layer_args,
                    drop_path_rate=rate,
                    seed=None if seed is None else seed + 10 * i,
                    dtype=self.dtype_policy,
                    name=f"transformer_layer_{i}",
                )
            )
        # The layers validated every shared argument; keep their checked values.
        first = self.transformer_layers[0]
        for arg in layer_args:
            setattr(self, arg, getattr(first, arg))
        if self.remat:
            rates = {"dropout": self.dropout, "attention_dropout": self.attention_dropout}
            rates["drop_path_rate"] = self.drop_path_rate
            rates["final_dropout"] = self.final_dropout
            for arg, rate in rates.items():
                if rate > 0:
                    raise ValueError(
                        f"`remat=True` recomputes each layer and would draw new dropout masks, so `{arg}` "
                        f"must be 0. Received: remat=True, {arg}={rate}."
                    )
        self.final_norm = first._make_norm("final_norm") if self.use_final_norm else None
        self.final_dropout_layer = None
        if self.final_dropout > 0:
            self.final_dropout_layer = keras.layers.Dropout(
                self.final_dropout,
                seed=None if self.seed is None else self.seed + 10 * self.num_layers,
                dtype=self.dtype_policy,
                name="final_dropout",
            )

    def build(self, inputs_shape, context_shape=None, condition_shape=None):
        # Shapes: inputs (b, t, d) -> every layer -> (b, t, d).
        inputs_shape = tuple(inputs_shape)
        extra = {}
        if context_shape is not None:
            extra["context_shape"] = tuple(context_shape)
        if condition_shape is not None:
            extra["condition_shape"] = tuple(condition_shape)
        for layer in self.transformer_layers:
            layer.build(inputs_shape, **extra)
        if self.final_norm is not None:
            self.final_norm.build(inputs_shape)
        if self.final_dropout_layer is not None:
            self.final_dropout_layer.build(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        context=None,
        context_padding_mask=None,
        cross_attention_mask=None,
        condition=None,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        # Shapes: cache (b, num_layers, 2, max_len, k, h); layer i reads and
        # writes cache[:, i].
        if cache is not None and cache.shape[1] is not None and cache.shape[1] != self.num_layers:
            raise ValueError(
                "`cache` must have one slice per layer on axis 1: "
                "(batch, num_layers, 2, max_len, num_key_value_heads, head_dim). "
                f"Received: cache.shape={tuple(cache.shape)}, num_layers={self.num_layers}."
            )
        x = inputs
        hidden_states = []
        if self.remat and training and cache is None:
            for layer in self.transformer_layers:
                x = self._rematerialized(layer, x, padding_mask, context, context_padding_mask, cross_attention_mask, condition)
                hidden_states.append(x)
            return self._finish(x, hidden_states, training)
        conditioning = dict(
            padding_mask=padding_mask,
            context=context,
            context_padding_mask=context_padding_mask,
            cross_attention_mask=cross_attention_mask,
            condition=condition,
            training=training,
        )
        if cache is not None:
            x, new_caches = self.decode_layers(
                x, [cache[:, i, ...] for i in range(self.num_layers)], cache_update_index, **conditioning
            )
            return x, ops.stack(new_caches, axis=1)
        for layer in self.transformer_layers:
            x = layer(x, **conditioning)
            hidden_states.append(x)
        return self._finish(x, hidden_states, training)

    def decode_layers(
        self,
        inputs,
        layer_caches,
        cache_update_index,
        padding_mask=None,
        context=None,
        context_padding_mask=None,
        cross_attention_mask=None,
        condition=None,
        training=None,
    ):
        """The stack over a KV cache kept as one tensor per layer: `(outputs, new_layer_caches)`.

        The same computation as calling the (built) stack with `cache` equal
        to `ops.stack(layer_caches, axis=1)`, without stacking or slicing the
        cache: a decoding loop that keeps the per-layer tensors saves one copy
        of the whole cache per step. Other arguments are those of `call`.

        Args:
            layer_caches: list or tuple of `num_layers` tensors
                `(batch, 2, max_len, num_key_value_heads, head_dim)`.

        Returns:
            The outputs `(batch, seq_len, hidden_dim)` and a tuple of the new
            per-layer caches.
        """
        if self.return_hidden_states:
            raise ValueError(
                "`return_hidden_states=True` is for feature extraction; it cannot be combined with a KV "
                "`cache`. Received: return_hidden_states=True and a cache."
            )
        if len(layer_caches) != self.num_layers:
            raise ValueError(
                "`layer_caches` must hold one cache per layer. "
                f"Received: {len(layer_caches)} caches, num_layers={self.num_layers}."
            )
        x = inputs
        new_caches = []
        for layer, layer_cache in zip(self.transformer_layers, layer_caches):
            x, layer_cache = layer(
                x,
                padding_mask=padding_mask,
                context=context,
                context_padding_mask=context_padding_mask,
                cross_attention_mask=cross_attention_mask,
                condition=condition,
                self_attention_cache=layer_cache,
                cache_update_index=cache_update_index,
                training=training,
            )
            new_caches.append(layer_cache)
        return self._finish(x, [], training), tuple(new_caches)

    def _finish(self, x, hidden_states, training):
        """The final norm and dropout, and the hidden states when asked for."""
        if self.final_norm is not None:
            x = self.final_norm(x)
        if self.final_dropout_layer is not None:
            x = self.final_dropout_layer(x, training=training)
        if self.return_hidden_states:
            return x, tuple(hidden_states)
        return x

    @staticmethod
    def _rematerialized(layer, x, padding_mask, context, context_padding_mask, cross_attention_mask, condition):
        """One layer's training forward under `keras.remat`: only its inputs are kept for backpropagation.

        The differentiable inputs (`x`, `context`, `condition`) are passed
        positionally so every backend differentiates through them; masks are
        closed over (no gradient).
        """
        names = [name for name, value in (("context", context), ("condition", condition)) if value is not None]

        def forward(x, *differentiable):
            return layer(
                x,
                padding_mask=padding_mask,
                context_padding_mask=context_padding_mask,
                cross_attention_mask=cross_attention_mask,
                training=True,
                **dict(zip(names, differentiable)),
            )

        values = [value for value in (context, condition) if value is not None]
        return keras.remat(forward)(x, *values)

    # ------------------------------------------------------------------ cache
    @staticmethod
    def make_cache(batch_size, num_layers, max_length, num_key_value_heads, head_dim, dtype="float32"):
        """An all-zero KV cache `(batch, num_layers, 2, max_length, kv_heads, head_dim)`."""
        shape = (
            check_positive_int("batch_size", batch_size),
            check_positive_int("num_layers", num_layers),
            2,
            check_positive_int("max_length", max_length),
            check_positive_int("num_key_value_heads", num_key_value_heads),
            check_positive_int("head_dim", head_dim),
        )
        return ops.zeros(shape, dtype=dtype)

    def empty_cache(self, batch_size, max_length, hidden_dim=None, dtype=None):
        """An all-zero KV cache for this stack.

        Args:
            batch_size: int. Batch size.
            max_length: int. Cache length (prompt plus generated positions).
            hidden_dim: int. Model width; needed only when `head_dim` is
                `None` and the stack is not built yet.
            dtype: str. Cache dtype. Defaults to the compute dtype.
        """
        head_dim = self.head_dim
        if head_dim is None:
            if hidden_dim is None:
                attention = self.transformer_layers[0].self_attention
                if not attention.built:
                    raise ValueError(
                        "`empty_cache` needs `hidden_dim` when `head_dim` is None and the stack "
                        "is not built. Received: hidden_dim=None."
                    )
                head_dim = attention._head_dim
            else:
                head_dim = self.transformer_layers[0]._hidden_dim((None, hidden_dim)) // self.num_heads
        return self.make_cache(
            batch_size,
            self.num_layers,
            max_length,
            self.num_key_value_heads or self.num_heads,
            head_dim,
            dtype=dtype or self.compute_dtype,
        )

    # ------------------------------------------------------------ shapes etc.
    def compute_output_shape(self, inputs_shape, cache_shape=None, **other_shapes):
        if cache_shape is not None:
            return tuple(inputs_shape), tuple(cache_shape)
        if self.return_hidden_states:
            return tuple(inputs_shape), tuple(tuple(inputs_shape) for _ in range(self.num_layers))
        return tuple(inputs_shape)

    def activation_elements_for(self, input_shape, context_shape=None, **other_shapes):
        """Elements kept for the backward pass: the sum over the layers (see `TransformerLayer`).

        With `remat`, only each layer's input is kept, plus the largest single
        layer's activations, live while that layer is recomputed.
        """
        if self.remat:
            per_layer = [layer.activation_elements_for(input_shape, context_shape=context_shape) for layer in self.transformer_layers]
            elements = 1
            for size in input_shape:
                elements *= int(size)
            return self.num_layers * elements + max(per_layer)
        return sum(layer.activation_elements_for(input_shape, context_shape=context_shape) for layer in self.transformer_layers)

    def non_trainable_params_for(self, input_shape, **other_shapes):
        """Weights no gradient updates (BatchNorm-type norms' moving statistics), over the layers and the final norm."""
        shape = tuple(input_shape)
        total = sum(layer.non_trainable_params_for(shape) for layer in self.transformer_layers)
        if self.final_norm is not None:
            total += count_weights(self.final_norm, shape) - count_weights(self.final_norm, shape, trainable_only=True)
        return total

    def count_params_for(self, input_shape, context_shape=None, condition_shape=None, **other_shapes):
        """Exact number of weights; mask and cache shapes do not change it."""
        total = sum(
            layer.count_params_for(input_shape, context_shape=context_shape, condition_shape=condition_shape)
            for layer in self.transformer_layers
        )
        if self.final_norm is not None:
            total += count_weights(self.final_norm, tuple(input_shape))
        return int(total)

    def flops_for(self, input_shape, context_shape=None, condition_shape=None, **other_shapes):
        """Forward FLOPs: every layer's (the final norm is elementwise)."""
        total = sum(
            layer.flops_for(input_shape, context_shape=context_shape, condition_shape=condition_shape)
            for layer in self.transformer_layers
        )
        if self.final_norm is not None:
            total += count_layer_flops(self.final_norm, tuple(input_shape))
        return int(total)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
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
                "use_final_norm": self.use_final_norm,
                "final_dropout": self.final_dropout,
                "seed": self.seed,
                "norm_kwargs": _plain(self.norm_kwargs),
                "return_hidden_states": self.return_hidden_states,
                "remat": self.remat,
            }
        )
        return config

