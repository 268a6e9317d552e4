"""The benchmark's Llama-style decoder written by hand in plain PyTorch (no Keras).

What an experienced PyTorch user writes: `nn.Linear` without bias, fused
`F.rms_norm`, rotate-half RoPE from precomputed tables, grouped-query
attention through `F.scaled_dot_product_attention(is_causal=True)`, SwiGLU,
`torch.optim.AdamW`, `F.cross_entropy`. Used eagerly and under `torch.compile`.
"""

import torch
import torch.nn.functional as F
from torch import nn

from tools.bench.settings import ADAMW, Setting, rope_tables


def _rms_norm(x, weight, eps):
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return _rms_norm(x, self.weight, self.eps)


def apply_rope(x, cos, sin):
    """Rotate-half RoPE. x: (b, n, s, h); cos/sin: (s, h/2)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, s: Setting):
        super().__init__()
        self.n, self.k, self.h = s.num_heads, s.num_key_value_heads, s.head_dim
        self.wq = nn.Linear(s.hidden_dim, self.n * self.h, bias=False)
        self.wk = nn.Linear(s.hidden_dim, self.k * self.h, bias=False)
        self.wv = nn.Linear(s.hidden_dim, self.k * self.h, bias=False)
        self.wo = nn.Linear(self.n * self.h, s.hidden_dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.n, self.h).transpose(1, 2)
        k = self.wk(x).view(b, t, self.k, self.h).transpose(1, 2)
        v = self.wv(x).view(b, t, self.k, self.h).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.n != self.k:
            # Repeating the KV heads keeps SDPA on its fused CPU kernel (enable_gqa=True
            # falls back to the math path on CPU in torch 2.x).
            k = k.repeat_interleave(self.n // self.k, dim=1)
            v = v.repeat_interleave(self.n // self.k, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(out.transpose(1, 2).reshape(b, t, self.n * self.h))


class SwiGLU(nn.Module):
    def __init__(self, s: Setting):
        super().__init__()
        self.gate = nn.Linear(s.hidden_dim, s.intermediate_dim, bias=False)
        self.up = nn.Linear(s.hidden_dim, s.intermediate_dim, bias=False)
        self.down = nn.Linear(s.intermediate_dim, s.hidden_dim, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, s: Setting):
        super().__init__()
        self.attention_norm = RMSNorm(s.hidden_dim, s.epsilon)
        self.attention = Attention(s)
        self.ffn_norm = RMSNorm(s.hidden_dim, s.epsilon)
        self.ffn = SwiGLU(s)

    def forward(self, x, cos, sin):
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.ffn(self.ffn_norm(x))


class Llama(nn.Module):
    def __init__(self, s: Setting):
        super().__init__()
        self.embed = nn.Embedding(s.vocabulary_size, s.hidden_dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.layers = nn.ModuleList([Block(s) for _ in range(s.num_layers)])
        self.norm = RMSNorm(s.hidden_dim, s.epsilon)
        self.head = nn.Linear(s.hidden_dim, s.vocabulary_size, bias=False)
        cos, sin = rope_tables(s)
        self.register_buffer("cos", torch.from_numpy(cos), persistent=False)
        self.register_buffer("sin", torch.from_numpy(sin), persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.head(self.norm(x))


def make_optimizer(model):
    return torch.optim.AdamW(
        model.parameters(),
        lr=ADAMW["learning_rate"],
        betas=(ADAMW["beta_1"], ADAMW["beta_2"]),
        eps=ADAMW["epsilon"],
        weight_decay=ADAMW["weight_decay"],
    )


class TorchLlama:
    """Train / forward driver. `compiled=True` wraps the module in `torch.compile`."""

    def __init__(self, s: Setting, compiled=False, device="cpu"):
        torch.manual_seed(0)
        self.s = s
        self.device = torch.device(device)
        self.module = Llama(s).to(self.device)
        self.model = torch.compile(self.module) if compiled else self.module
        self.optimizer = None

    def num_params(self):
        return sum(p.numel() for p in self.module.parameters())

    def _tensor(self, array):
        return torch.from_numpy(array).long().to(self.device)

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def train_step_fn(self, ids, labels, autocast_dtype=None):
        if self.optimizer is None:
            self.optimizer = make_optimizer(self.module)
        ids, labels = self._tensor(ids), self._tensor(labels)
        v = self.s.vocabulary_size

        def step():
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits = self.model(ids)
                loss = F.cross_entropy(logits.float().reshape(-1, v), labels.reshape(-1))
            loss.backward()
            self.optimizer.step()
            return float(loss.detach())  # .item() waits for the step

        return step

    def forward_fn(self, ids, autocast_dtype=None):
        ids = self._tensor(ids)

        def forward():
            with torch.inference_mode(), torch.autocast(
                self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None
            ):
                out = self.model(ids)
            self._sync()
            return out

        return forward
