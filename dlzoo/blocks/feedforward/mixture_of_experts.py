"""Sparsely-gated mixture of experts: a router sends each token to its top-k expert FFNs."""

import math

import keras
from keras import ops

from dlzoo.blocks.feedforward._common import (
    check_activation,
    check_initializer,
    get_activation,
    last_dim,
    make_initializer,
    output_width,
    project_shape,
)
from dlzoo.flops import matmul_flops, rows
from dlzoo.registry import register_block
from dlzoo.validation import (
    check_bool,
    check_choice,
    check_float,
    check_positive_int,
    check_rate,
)

# Expert kinds: (gated?, default activation).
EXPERTS = {"swiglu": (True, "silu"), "geglu": (True, "gelu"), "mlp": (False, "gelu")}


def _per_expert(initializer, num_experts):
    """Initialize each expert's slice `shape[1:]` on its own, so fans are per expert."""

    def initialize(shape, dtype=None):
        return ops.stack(
            [make_initializer(initializer)(tuple(shape[1:]), dtype=dtype) for _ in range(num_experts)], axis=0
        )

    return initialize


@register_block(
    "mixture_of_experts",
    paper="arXiv:2101.03961",
    example={"init_kwargs": {"intermediate_dim": 16, "num_experts": 4, "top_k": 2}, "inputs": (2, 8, 16)},
)
class MixtureOfExperts(keras.layers.Layer):
    """Sparsely-gated mixture-of-experts feed-forward layer (Switch / top-k routing).

    A router (a bias-free linear map `hidden_dim -> num_experts`, softmax in
    float32) scores each token; the token goes to its `top_k` experts and the
    output is the gate-weighted sum of their outputs:
    `y = sum_{i in topk(p)} g_i * expert_i(x)`. Each expert is a small FFN
    (`"swiglu"`, `"geglu"` or `"mlp"`). `top_k=1` is the Switch Transformer:
    the gate is the router probability itself (never renormalized), so the
    router learns through the task loss.

    Load balancing: the Switch auxiliary loss
    `aux_loss_weight * num_experts * sum_i f_i * P_i` is added with
    `add_loss` on every call (`f_i` = fraction of the `tokens * top_k`
    routing assignments that go to expert `i`, before capacity dropping;
    `P_i` = mean router probability of expert `i`). It is 1 times the weight
    for perfectly uniform routing. With `capacity_factor` set, each expert
    takes at most `ceil(capacity_factor * tokens * top_k / num_experts)`
    tokens, first come first served in token order; the assignments past
    that are dropped (that expert contributes zero for the token; the other
    gates are not renormalized).

    Args:
        intermediate_dim: int. Inner width of each expert.
        num_experts: int. Number of experts.
        top_k: int. Experts per token, at most `num_experts`. Defaults to `2`.
        expert: str. Kind of expert FFN: `"swiglu"`, `"geglu"` (gated, three
            matrices) or `"mlp"` (two matrices). Defaults to `"swiglu"`.
        activation: str. Activation of `"mlp"` experts (any Keras activation
            name). `None` uses the expert kind's own: SiLU for `"swiglu"`,
            exact GELU for `"geglu"` and `"mlp"`. Defaults to `None`.
        use_bias: bool. Whether the expert projections have biases (the
            router never has one). Defaults to `False`.
        dropout: float. Dropout rate on the block's output. Defaults to `0.0`.
        kernel_initializer: str or dict. Initializer of the router kernel and
            of each expert's kernels (applied per expert, so fans are those of
            one expert). Defaults to `"glorot_uniform"`.
        bias_initializer: str or dict. Initializer of the expert biases.
            Defaults to `"zeros"`.
        output_dim: int. Width of the output. `None` keeps the input width.
            Defaults to `None`.
        capacity_factor: float. Expert capacity factor; `None` means no
            capacity limit (no token is dropped). Defaults to `None`.
        aux_loss_weight: float. Weight of the load-balancing loss; `0`
            disables it. Defaults to `0.01` (the Switch paper's alpha).
        router_jitter: float. During training, router inputs are multiplied
            by noise drawn uniformly from `[1 - router_jitter, 1 + router_jitter]`
            (Switch). Defaults to `0.0`.
        normalize_top_k: bool. Whether the `top_k` gate probabilities are
            renormalized to sum to one (Mixtral style). Only applies when
            `top_k > 1`. Defaults to `True`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(..., hidden_dim)`. All leading axes are
            flattened into one axis of tokens for routing and capacity.
        training: bool. Whether dropout and router jitter are active.

    Returns:
        Tensor of shape `(..., output_dim or hidden_dim)`. The auxiliary loss
        is in `layer.losses` after the call.

    Example:

    >>> layer = dlzoo.blocks.MixtureOfExperts(intermediate_dim=16, num_experts=4, top_k=2)
    >>> tuple(layer(np.ones((2, 5, 8))).shape)
    (2, 5, 8)

    Notes:
        Dense, gather-free formulation: every expert runs on every token and
        a sparse gate matrix (zero outside each token's kept top-k) combines
        the results. This is simple, jit-friendly and identical on every
        backend, but costs `num_experts` times the FLOPs of one expert and
        `tokens * num_experts * intermediate_dim` activation memory, instead
        of `top_k / num_experts` of that for a dispatching implementation;
        it is meant for correctness and small models. Capacity counts tokens
        in token order over all flattened leading axes (batch first), not by
        routing priority as in GShard, and padding tokens are routed (and
        counted in the loss) like any other.

    Reference:
        - [Fedus et al., 2021. Switch Transformers](https://arxiv.org/abs/2101.03961)
        - [Shazeer et al., 2017. Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer](https://arxiv.org/abs/1701.06538)
    """

    def __init__(
        self,
        intermediate_dim,
        num_experts,
        top_k=2,
        expert="swiglu",
        activation=None,
        use_bias=False,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        output_dim=None,
        capacity_factor=None,
        aux_loss_weight=0.01,
        router_jitter=0.0,
        normalize_top_k=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.num_experts = check_positive_int("num_experts", num_experts)
        self.top_k = check_positive_int("top_k", top_k)
        if self.top_k > self.num_experts:
            raise ValueError(
                "`top_k` must be <= `num_experts` (a token cannot pick more experts than exist). "
                f"Received: top_k={self.top_k}, num_experts={self.num_experts}."
            )
        if not isinstance(expert, str):
            raise TypeError(f"`expert` must be a string. Received: expert={expert!r} of type {type(expert).__name__}.")
        self.expert = check_choice("expert", expert, tuple(EXPERTS))
        gated, default_activation = EXPERTS[self.expert]
        if activation is not None:
            check_activation("activation", activation)
            if gated and activation != default_activation:
                raise ValueError(
                    f"`activation` conflicts with `expert`: {self.expert!r} experts always use "
                    f"{default_activation!r}; use expert='mlp' to choose the activation. "
                    f"Received: activation={activation!r}, expert={self.expert!r}."
                )
        self.activation = activation
        self.use_bias = check_bool("use_bias", use_bias)
        self.dropout = check_rate("dropout", dropout)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("bias_initializer", bias_initializer)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.capacity_factor = check_float(
            "capacity_factor", capacity_factor, min_value=0.0, min_inclusive=False, allow_none=True
        )
        self.aux_loss_weight = check_float("aux_loss_weight", aux_loss_weight, min_value=0.0)
        self.router_jitter = check_rate("router_jitter", router_jitter)
        self.normalize_top_k = check_bool("normalize_top_k", normalize_top_k)

        self._gated = gated
        self._activation_fn = get_activation(activation or default_activation)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        if self.router_jitter > 0:
            self.seed_generator = keras.random.SeedGenerator(name="router_jitter_seed")

    def build(self, input_shape):
        # Einsum variables: t = tokens (leading axes flattened), d = hidden_dim,
        # e = num_experts, k = top_k, f = intermediate_dim, o = output_dim (or d).
        d = last_dim(input_shape, "MixtureOfExperts")
        e, f = self.num_experts, self.intermediate_dim
        o = output_width(d, self.output_dim)
        # The router reads its kernel in float32 even under mixed precision.
        self.router_kernel = self.add_weight(
            name="router_kernel", shape=(d, e), initializer=make_initializer(self.kernel_initializer), autocast=False
        )
        kernel = _per_expert(self.kernel_initializer, e)
        bias = _per_expert(self.bias_initializer, e)
        if self._gated:
            self.gate_kernel = self.add_weight(name="gate_kernel", shape=(e, d, f), initializer=kernel)
        self.inner_kernel = self.add_weight(name="inner_kernel", shape=(e, d, f), initializer=kernel)
        self.output_kernel = self.add_weight(name="output_kernel", shape=(e, f, o), initializer=kernel)
        if self.use_bias:
            if self._gated:
                self.gate_bias = self.add_weight(name="gate_bias", shape=(e, f), initializer=bias)
            self.inner_bias = self.add_weight(name="inner_bias", shape=(e, f), initializer=bias)
            self.output_bias = self.add_weight(name="output_bias", shape=(e, o), initializer=bias)
        self.built = True

    def _capacity(self, num_tokens):
        """Per-expert capacity: an int when the token count is static, else a float tensor."""
        ratio = self.capacity_factor * self.top_k / self.num_experts
        if isinstance(num_tokens, int):
            return float(math.ceil(self.capacity_factor * num_tokens * self.top_k / self.num_experts))
        return ops.ceil(ops.cast(num_tokens, "float32") * ratio)

    def route(self, x, training=None):
        """Router: `(gates, probs, assigned)` for flattened tokens `x` of shape `(t, d)`.

        `gates` `(t, e)` float32 holds each token's (renormalized) top-k gate
        for the experts that keep it (zero elsewhere, and for assignments
        dropped by the capacity limit); `probs` `(t, e)` the full router
        softmax; `assigned` `(t, e)` is 1 where an expert is among the
        token's top-k (before capacity).
        """
        k, e = self.top_k, self.num_experts
        router_in = ops.cast(x, "float32")
        if training and self.router_jitter > 0:
            noise = keras.random.uniform(
                ops.shape(router_in),
                minval=1.0 - self.router_jitter,
                maxval=1.0 + self.router_jitter,
                seed=self.seed_generator,
            )
            router_in = router_in * noise
        probs = ops.softmax(ops.matmul(router_in, self.router_kernel), axis=-1)  # (t, e)
        top_probs, top_index = ops.top_k(probs, k=k)  # (t, k)
        if self.normalize_top_k and k > 1:
            top_probs = top_probs / ops.sum(top_probs, axis=-1, keepdims=True)
        choice = ops.one_hot(top_index, e, dtype="float32")  # (t, k, e)
        assigned = ops.sum(choice, axis=1)  # (t, e), 0 or 1
        gates = ops.sum(choice * ops.expand_dims(top_probs, -1), axis=1)  # (t, e)
        if self.capacity_factor is not None:
            num_tokens = x.shape[0] if x.shape[0] is not None else ops.shape(x)[0]
            slot = ops.cumsum(assigned, axis=0) - 1.0  # (t, e): place in the expert's queue
            kept = ops.cast(ops.less(slot, self._capacity(num_tokens)), "float32") * assigned
            gates = gates * kept
        return gates, probs, assigned

    def call(self, inputs, training=None):
        # Einsum variables: t = tokens (leading axes flattened), d = hidden_dim,
        # e = num_experts, f = intermediate_dim, o = output_dim (or d).
        d = inputs.shape[-1]
        x = ops.reshape(inputs, (-1, d))  # (t, d)
        gates, probs, assigned = self.route(x, training=training)
        if self.aux_loss_weight > 0:
            fraction = ops.mean(assigned, axis=0) / self.top_k  # f_i, sums to 1
            mean_prob = ops.mean(probs, axis=0)  # P_i
            aux = self.num_experts * ops.sum(fraction * mean_prob)
            self.add_loss(self.aux_loss_weight * aux)

        hidden = ops.einsum("td,edf->tef", x, self.inner_kernel)
        if self.use_bias:
            hidden = hidden + self.inner_bias
        if self._gated:
            gate = ops.einsum("td,edf->tef", x, self.gate_kernel)
            if self.use_bias:
                gate = gate + self.gate_bias
            hidden = self._activation_fn(gate) * hidden
        else:
            hidden = self._activation_fn(hidden)
        expert_out = ops.einsum("tef,efo->teo", hidden, self.output_kernel)
        if self.use_bias:
            expert_out = expert_out + self.output_bias
        y = ops.einsum("teo,te->to", expert_out, ops.cast(gates, expert_out.dtype))  # (t, o)
        y = ops.reshape(y, tuple(ops.shape(inputs)[:-1]) + (y.shape[-1],))
        return self.dropout_layer(y, training=training)

    def compute_output_shape(self, input_shape):
        return project_shape(input_shape, self.output_dim)

    def count_params_for(self, input_shape):
        d = last_dim(input_shape, "MixtureOfExperts")
        e, f = self.num_experts, self.intermediate_dim
        o = output_width(d, self.output_dim)
        n_in = 2 if self._gated else 1
        expert = n_in * d * f + f * o + ((n_in * f + o) if self.use_bias else 0)
        return d * e + e * expert

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs as computed: the router, every expert on every token (dense dispatch), the gated sum.

        The block evaluates all `num_experts` experts for each token and zeroes
        the unselected ones in the gated sum, so its cost is `num_experts`
        dense feed-forwards, not `top_k` (see `dlzoo.flops`).
        """
        d = last_dim(input_shape, "MixtureOfExperts")
        e, f = self.num_experts, self.intermediate_dim
        o = output_width(d, self.output_dim)
        t = rows(input_shape)
        n_in = 2 if self._gated else 1
        router = matmul_flops(t, d, e)
        experts = e * (n_in * matmul_flops(t, d, f) + matmul_flops(t, f, o))
        combine = matmul_flops(t * o, e, 1)
        return router + experts + combine

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "num_experts": self.num_experts,
                "top_k": self.top_k,
                "expert": self.expert,
                "activation": self.activation,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "output_dim": self.output_dim,
                "capacity_factor": self.capacity_factor,
                "aux_loss_weight": self.aux_loss_weight,
                "router_jitter": self.router_jitter,
                "normalize_top_k": self.normalize_top_k,
            }
        )
        return config
