"""The Two-Tower LCM denoiser: AdaLN-Zero Transformer with cross-attention to the context."""

import keras
from keras import ops

from dlzoo.blocks.attention.masks import shifted_causal_mask
from dlzoo.blocks.position.timestep_embedding import TimestepEmbedding
from dlzoo.blocks.stacks.transformer_layer import _plain
from dlzoo.blocks.stacks.transformer_stack import TransformerStack
from dlzoo.blocks.lcm._initializers import check_initializer_arg, resolve_bias, resolve_kernel
from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_float, check_int, check_positive_int, check_rate


@register_block(
    "lcm_denoiser",
    paper="arXiv:2412.08821",
    example={
        "init_kwargs": {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "intermediate_dim": 32, "timestep_frequency_dim": 8},
        "inputs": {
            "noisy": (2, 5, 12),
            "timesteps": {"shape": (2, 5), "dtype": "int32", "max": 100},
            "context": (2, 5, 16),
            "context_padding_mask": {"shape": (2, 5), "dtype": "bool"},
        },
    },
)
class LCMDenoiser(keras.layers.Layer):
    """Denoiser tower of the Two-Tower diffusion LCM ("hybrid AdaLN + cross-attention").

    Given noisy concepts `x_t (b, n, s)`, their integer timesteps `(b, n)` and
    the context tower's states `(b, n_c, d)`, it predicts the clean concepts
    (x0, `prediction_type="sample"`):

    1. `c = TimestepEmbedding(t)`: cos|sin sinusoid of 256 features, then
       `Linear -> SiLU -> Linear` to width `d` (kernels `N(0, 0.02^2)`).
    2. A **zero vector is prepended** to the context (`n_c + 1` keys, padding
       mask extended with `True`); the timestep reaches the denoiser only
       through AdaLN.
    3. `h = initial_proj(x_t)` (biased `Linear(s -> d)`), no positions.
    4. `num_layers` pre-norm layers, each `x + gate * Drop(Sub(Norm(x) * (1 +
       scale) + shift))` for Sub = self-attention with a **diagonal** mask,
       cross-attention to the zero-prepended context, feed-forward; the
       (shift, scale, gate) triples come from one zero-initialised
       `Linear(d -> 9d)(SiLU(c))` per layer, ordered (self, cross, FFN).
    5. Final norm (no AdaLN), final dropout, `final_proj` (biased
       `Linear(d -> s)`).

    Cross-attention mask: with `causal=True` (training and teacher forcing,
    the reference `ShiftedCausalAttentionMask`) row `i` sees key 0 (the zero
    vector) and context positions `< i + shift`, where `shift` is 0 or, for
    fine-tuning, each sample's `source_lengths`; row 0 is then denoised
    unconditionally. With `causal=False` (inference: one latent that may see
    the whole context) only the padding mask applies. During training with
    `cf_guidance_probability = p > 0`, `floor((n - 1) p)` distinct rows drawn
    uniformly from `1 .. n-1` (never row 0; the same rows for the whole batch,
    as the reference does without source lengths) see only the zero key: the
    classifier-free guidance dropout.

    Args:
        hidden_dim: int. Model width `d` (= the timestep embedding width).
        num_layers: int. Number of denoiser layers.
        num_heads: int. Attention heads (self- and cross-attention).
        intermediate_dim: int. Feed-forward width (before any GLU rounding).
        num_key_value_heads: int or None. GQA key/value heads. Defaults to `None`.
        head_dim: int or None. Head size. Defaults to `None` (`d / num_heads`).
        norm: str. Registered norm. Defaults to `"rms_norm"`.
        norm_epsilon: float. Norm epsilon. Defaults to `1e-5`.
        norm_kwargs: dict. Further norm arguments. Defaults to `None`.
        feedforward: str. Registered feed-forward block. Defaults to `"swiglu"`.
        feedforward_kwargs: dict or None. Extra feed-forward arguments.
            Defaults to `None`.
        attention_kwargs: dict or None. Extra `GroupedQueryAttention`
            arguments (biases, initializers). Defaults to `None`.
        dropout: float. Residual dropout of each branch. Defaults to `0.1`.
        attention_dropout: float. Dropout on attention probabilities.
            Defaults to `0.0`.
        final_dropout: float. Dropout after the final norm. Defaults to `0.0`.
        timestep_frequency_dim: int. Size of the timestep sinusoid. Defaults to `256`.
        max_period: float. Timestep sinusoid max period. Defaults to `10000.0`.
        output_dim: int or None. Output size; `None` = the size of `noisy`.
            Defaults to `None`.
        cf_guidance_probability: float. Row dropout probability of the
            context in training (0.15 in the 1.6B/7B recipes). Defaults to `0.0`.
        projection_initializer: str or dict. Kernels of `initial_proj` and
            `final_proj`; `"torch_default"` also sets their PyTorch bias init.
            Defaults to `"torch_default"`.
        seed: int or None. Seed of the dropouts and the guidance dropout.
            Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        noisy: Tensor `(batch, n, s)`, noisy normalized concepts `x_t`.
        timesteps: int tensor `(batch, n)`.
        context: Tensor `(batch, n_c, context_dim)`, context-tower states.
        context_padding_mask: Optional bool tensor `(batch, n_c)`, `True` = real.
        source_lengths: Optional int tensor `(batch,)`: the shift of the
            causal cross-attention mask (fine-tuning). Defaults to `None` (0).
        causal: bool. Shifted-causal cross-attention mask (`True`) or none
            (`False`, inference). Defaults to `True`.
        training: bool. Dropout and guidance dropout.

    Returns:
        Tensor `(batch, n, output_dim or s)`: the predicted clean concepts.

    Example:

    >>> layer = dlzoo.lcm.LCMDenoiser(hidden_dim=16, num_layers=1, num_heads=2,
    ...                               intermediate_dim=32, timestep_frequency_dim=8)
    >>> out = layer(np.zeros((2, 3, 12)), timesteps=np.zeros((2, 3), "int32"),
    ...             context=np.zeros((2, 3, 16)))
    >>> tuple(out.shape)
    (2, 3, 12)

    Notes:
        The reference's denoiser supports positional encodings and other
        norm orders, but every registered arch uses `"none"` and pre-norm;
        only those are implemented.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.3
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748)
        - [Ho and Salimans, 2022. Classifier-Free Diffusion Guidance](https://arxiv.org/abs/2207.12598)
    """

    def __init__(
        self,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        num_key_value_heads=None,
        head_dim=None,
        norm="rms_norm",
        norm_epsilon=1e-5,
        feedforward="swiglu",
        feedforward_kwargs=None,
        attention_kwargs=None,
        dropout=0.1,
        attention_dropout=0.0,
        final_dropout=0.0,
        timestep_frequency_dim=256,
        max_period=10000.0,
        output_dim=None,
        cf_guidance_probability=0.0,
        projection_initializer="torch_default",
        seed=None,
        norm_kwargs=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.cf_guidance_probability = check_rate("cf_guidance_probability", cf_guidance_probability)
        self.timestep_frequency_dim = check_positive_int("timestep_frequency_dim", timestep_frequency_dim)
        self.max_period = check_float("max_period", max_period, min_value=0.0, min_inclusive=False)
        self.projection_initializer = check_initializer_arg("projection_initializer", projection_initializer)
        self.seed = check_int("seed", seed, allow_none=True)
        self.timestep_embedding = TimestepEmbedding(
            frequency_dim=self.timestep_frequency_dim,
            hidden_dim=self.hidden_dim,
            max_period=self.max_period,
            order="cos_sin",
            dtype=self.dtype_policy,
            name="timestep_embedding",
        )
        self.stack = TransformerStack(
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            num_key_value_heads=num_key_value_heads,
            head_dim=head_dim,
            norm=norm,
            norm_epsilon=norm_epsilon,
            norm_kwargs=norm_kwargs,
            norm_position="pre",
            feedforward=feedforward,
            feedforward_kwargs=feedforward_kwargs,
            attention_kwargs=attention_kwargs,
            self_attention_mask="diagonal",
            use_cross_attention=True,
            use_adaptive_norm=True,
            dropout=dropout,
            attention_dropout=attention_dropout,
            use_final_norm=True,
            final_dropout=final_dropout,
            seed=self.seed,
            dtype=self.dtype_policy,
            name="stack",
        )
        # The stack validated these; keep its checked values.
        for arg in ("num_layers", "num_heads", "intermediate_dim", "num_key_value_heads", "head_dim", "norm",
                    "norm_epsilon", "feedforward", "dropout", "attention_dropout", "final_dropout"):
            setattr(self, arg, getattr(self.stack, arg))
        self.feedforward_kwargs = _plain(self.stack.feedforward_kwargs)
        self.attention_kwargs = _plain(self.stack.attention_kwargs)
        self.norm_kwargs = _plain(self.stack.norm_kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed) if self.cf_guidance_probability > 0 else None

    def _dense(self, units, fan_in, name):
        return keras.layers.Dense(
            units,
            kernel_initializer=keras.initializers.get(resolve_kernel(self.projection_initializer)),
            bias_initializer=keras.initializers.get(
                resolve_bias("torch_default" if self.projection_initializer == "torch_default" else "zeros", fan_in)
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, noisy_shape, timesteps_shape=None, context_shape=None):
        # Shapes: noisy (b, n, s) -> h (b, n, d); context (b, m, c) -> keys (b, m + 1, c);
        # condition (b, n, d); output (b, n, o).
        noisy_shape = tuple(noisy_shape)
        s = int(noisy_shape[-1])
        d = self.hidden_dim
        batch, n = noisy_shape[0], noisy_shape[1]
        context_shape = (batch, n, d) if context_shape is None else tuple(context_shape)
        keys_shape = (context_shape[0], None if context_shape[1] is None else context_shape[1] + 1, context_shape[2])
        self.timestep_embedding.build((batch, n))
        self.initial_proj = self._dense(d, s, "initial_proj")
        self.initial_proj.build(noisy_shape)
        self.stack.build((batch, n, d), context_shape=keys_shape, condition_shape=(batch, n, d))
        self.final_proj = self._dense(self.output_dim or s, d, "final_proj")
        self.final_proj.build((batch, n, d))
        self.built = True

    def call(
        self,
        noisy,
        timesteps,
        context,
        context_padding_mask=None,
        source_lengths=None,
        causal=True,
        training=None,
    ):
        condition = self.timestep_embedding(timesteps)  # (b, n, d)
        keys, key_mask = prepend_zero_key(context, context_padding_mask)
        n = ops.shape(noisy)[1]
        m = ops.shape(keys)[1]
        cross_mask = None
        if causal:
            shift = 0 if source_lengths is None else source_lengths
            cross_mask = shifted_causal_mask(n, m, shift)  # (1 or b, n, m + 1)
            if training and self.cf_guidance_probability > 0:
                cross_mask = self._guidance_dropout(cross_mask, n, m)
        h = self.initial_proj(noisy)
        h = self.stack(
            h,
            context=keys,
            context_padding_mask=key_mask,
            cross_attention_mask=cross_mask,
            condition=condition,
            training=training,
        )
        return self.final_proj(h)

    def _guidance_dropout(self, mask, n, m):
        """Restrict `floor((n - 1) p)` random rows (never row 0) to the zero key."""
        noise = keras.random.uniform((n,), seed=self.seed_generator)
        rows = ops.arange(n, dtype="int32")
        noise = ops.where(rows == 0, 2.0, noise)  # row 0 ranks last: never dropped
        ranks = ops.argsort(ops.argsort(noise))
        num_dropped = ops.cast(ops.floor(ops.cast(n - 1, "float32") * self.cf_guidance_probability), "int32")
        dropped = ops.reshape(ranks < num_dropped, (1, -1, 1))
        zero_key_only = ops.reshape(ops.arange(m, dtype="int32") == 0, (1, 1, -1))
        return ops.where(dropped, zero_key_only, mask)

    def compute_output_shape(self, noisy_shape, timesteps_shape=None, context_shape=None):
        return tuple(noisy_shape[:-1]) + (self.output_dim or noisy_shape[-1],)

    def activation_elements_for(self, input_shape, context_shape=None, **other_shapes):
        """Elements kept for the backward pass: the stack's at width `hidden_dim`, with the prepended context row."""
        b, n = (int(d) for d in tuple(input_shape)[:2])
        hidden = (b, n, self.hidden_dim)
        context = (b, n + 1, self.hidden_dim)
        return self.stack.activation_elements_for(hidden, context_shape=context)

    def count_params_for(self, input_shape, context_shape=None, **other_shapes):
        """Exact weights for a `noisy` shape (and context shape); mask shapes do not matter."""
        s = int(input_shape[-1])
        d = self.hidden_dim
        o = self.output_dim or s
        c = d if context_shape is None else int(context_shape[-1])
        total = self.timestep_embedding.count_params_for((None, None))
        total += s * d + d  # initial_proj
        total += self.stack.count_params_for((None, None, d), context_shape=(None, None, c), condition_shape=(None, None, d))
        total += d * o + o  # final_proj
        return int(total)

    def flops_for(self, input_shape, timesteps_shape=None, context_shape=None, **other_shapes):
        """Forward FLOPs: timestep MLP, input projection, the stack (cross-attending to the context plus
        the prepended zero key) and the output projection."""
        batch, n, s = (int(v) for v in input_shape)
        d = self.hidden_dim
        o = self.output_dim or s
        timesteps_shape = (batch, n) if timesteps_shape is None else tuple(timesteps_shape)
        context_shape = (batch, n, d) if context_shape is None else tuple(context_shape)
        keys_shape = (context_shape[0], int(context_shape[1]) + 1, context_shape[2])
        total = self.timestep_embedding.flops_for(timesteps_shape)
        total += dense_flops(input_shape, d)
        total += self.stack.flops_for((batch, n, d), context_shape=keys_shape, condition_shape=(batch, n, d))
        total += dense_flops((batch, n, d), o)
        return int(total)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "num_key_value_heads": self.num_key_value_heads,
                "head_dim": self.head_dim,
                "norm": self.norm,
                "norm_epsilon": self.norm_epsilon,
                "feedforward": self.feedforward,
                "feedforward_kwargs": self.feedforward_kwargs,
                "attention_kwargs": self.attention_kwargs,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "final_dropout": self.final_dropout,
                "timestep_frequency_dim": self.timestep_frequency_dim,
                "max_period": self.max_period,
                "output_dim": self.output_dim,
                "cf_guidance_probability": self.cf_guidance_probability,
                "projection_initializer": self.projection_initializer,
                "seed": self.seed,
                "norm_kwargs": self.norm_kwargs,
            }
        )
        return config


def prepend_zero_key(context, context_padding_mask=None):
    """Prepend a zero vector to `context` (and `True` to its padding mask).

    Args:
        context: Tensor `(batch, m, c)`.
        context_padding_mask: Optional bool tensor `(batch, m)`.

    Returns:
        `(keys (batch, m + 1, c), mask (batch, m + 1))`; the mask is `None`
        when no padding mask is given.
    """
    zero = ops.zeros_like(context[:, :1, :])
    keys = ops.concatenate([zero, context], axis=1)
    if context_padding_mask is None:
        return keys, None
    first = ops.ones_like(ops.cast(context_padding_mask[:, :1], "bool"))
    return keys, ops.concatenate([first, ops.cast(context_padding_mask, "bool")], axis=1)

