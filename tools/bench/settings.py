"""Benchmark settings, shared data and analytic FLOP counts (pure Python + NumPy, no backend import).

A `Setting` is one Llama-style decoder LM shape (RoPE, RMSNorm, SwiGLU,
grouped-query attention, untied LM head, no biases): exactly what
`dlzoo.build("llama-tiny", ...)` builds after resizing, and what every
hand-written contender re-implements for its engine.
"""

import dataclasses
from typing import Any, Dict

import numpy as np

# AdamW hyper-parameters shared by every contender (PyTorch's defaults except lr;
# Keras' and optax' defaults differ, so every contender sets them explicitly).
ADAMW = {"learning_rate": 1e-4, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "weight_decay": 0.01}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One decoder-LM shape plus the batch it is trained / run on."""

    name: str
    hidden_dim: int
    num_layers: int
    num_heads: int
    num_key_value_heads: int
    intermediate_dim: int
    sequence_length: int
    batch_size: int
    vocabulary_size: int = 512  # llama-tiny's vocabulary, kept when resizing
    rope_max_wavelength: float = 10000.0
    epsilon: float = 1e-5  # RMSNorm epsilon of the llama family

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Setting":
        return cls(**d)

    def replace(self, **changes) -> "Setting":
        return dataclasses.replace(self, **changes)

    def dlzoo_overrides(self) -> Dict[str, Any]:
        """`dlzoo.build("llama-tiny", **overrides)` arguments for this shape."""
        return {
            "vocabulary_size": self.vocabulary_size,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "max_sequence_length": self.sequence_length,
            "attention": {
                "num_heads": self.num_heads,
                "num_key_value_heads": self.num_key_value_heads,
                "rope_max_wavelength": self.rope_max_wavelength,
            },
            "feedforward": {"intermediate_dim": self.intermediate_dim},
            "norm": {"epsilon": self.epsilon},
        }

    def describe(self) -> str:
        return (
            f"width {self.hidden_dim}, {self.num_layers} layers, {self.num_heads} heads "
            f"({self.num_key_value_heads} KV), SwiGLU {self.intermediate_dim}, vocab {self.vocabulary_size}, "
            f"seq {self.sequence_length}, batch {self.batch_size}"
        )


# The two training settings of issue 7 (the first is the MFU target's "width 512").
LARGE = Setting("w512", hidden_dim=512, num_layers=6, num_heads=8, num_key_value_heads=2,
                intermediate_dim=1536, sequence_length=256, batch_size=8)
SMALL = Setting("w256", hidden_dim=256, num_layers=4, num_heads=8, num_key_value_heads=2,
                intermediate_dim=768, sequence_length=128, batch_size=8)
# Used by the smoke test and `--quick`.
TINY = Setting("w32", hidden_dim=32, num_layers=1, num_heads=4, num_key_value_heads=2,
               intermediate_dim=64, sequence_length=16, batch_size=2, vocabulary_size=64)

SETTINGS = {s.name: s for s in (LARGE, SMALL, TINY)}


def param_count(s: Setting) -> int:
    """Exact parameter count of the architecture (embedding + layers + final norm + untied head)."""
    d, hd = s.hidden_dim, s.head_dim
    attention = d * s.num_heads * hd + 2 * d * s.num_key_value_heads * hd + s.num_heads * hd * d
    feedforward = 3 * d * s.intermediate_dim
    per_layer = attention + feedforward + 2 * d  # two RMSNorm scales
    return s.vocabulary_size * d + s.num_layers * per_layer + d + d * s.vocabulary_size


def matmul_params(s: Setting) -> int:
    """Parameters that take part in matmuls (all but the embedding table and the norm scales)."""
    return param_count(s) - s.vocabulary_size * s.hidden_dim - (2 * s.num_layers + 1) * s.hidden_dim


def attention_flops_per_token(s: Setting) -> int:
    """Forward FLOPs of QK^T and AV per token (full, not causal-halved, as PaLM's MFU)."""
    return 4 * s.num_layers * s.num_heads * s.head_dim * s.sequence_length


def train_flops(s: Setting) -> int:
    """Model FLOPs of one training step: 6*N*tokens + 3x the attention score FLOPs (PaLM, App. B)."""
    tokens = s.batch_size * s.sequence_length
    return 6 * matmul_params(s) * tokens + 3 * attention_flops_per_token(s) * tokens


def forward_flops(s: Setting, batch_size: int) -> int:
    tokens = batch_size * s.sequence_length
    return 2 * matmul_params(s) * tokens + attention_flops_per_token(s) * tokens


def token_batch(s: Setting, batch_size: int = None, seed: int = 0):
    """`(token_ids, labels)` int32 arrays `(batch, seq)`: the same data for every contender."""
    rng = np.random.default_rng(seed)
    b = s.batch_size if batch_size is None else batch_size
    ids = rng.integers(0, s.vocabulary_size, size=(b, s.sequence_length + 1)).astype("int32")
    return ids[:, :-1].copy(), ids[:, 1:].copy()


def rope_tables(s: Setting):
    """`(cos, sin)` float32 `(seq, head_dim // 2)` for the rotate-half RoPE layout."""
    half = s.head_dim // 2
    inverse = s.rope_max_wavelength ** (-np.arange(half, dtype="float64") * 2.0 / s.head_dim)
    angles = np.arange(s.sequence_length, dtype="float64")[:, None] * inverse[None, :]
    return np.cos(angles).astype("float32"), np.sin(angles).astype("float32")
