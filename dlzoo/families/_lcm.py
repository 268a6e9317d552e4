"""What the two LCM families share: their sections, initializers and the PreNet (private)."""

from dlzoo.blocks.lcm import _initializers as inits
from dlzoo.families._transformer import attention_section, feedforward_section, norm_section
from dlzoo.registry import get_block, init_arguments
from dlzoo.validation import check_choice

POSITIONS = ("rope", "learned", "sine", "none")


def sections():
    """The `attention`, `feedforward` and `norm` sections of the 1.6B reference models."""
    return dict(
        # RoPE is switched by the family's `position`, so it is not a setting of its own here.
        attention=attention_section(
            reserved=("use_rotary_embedding",),
            num_heads=16,
            use_qkv_bias=True,
            use_output_bias=True,
            attention_dropout=0.0,
            rope_max_wavelength=10000.0,
            rope_layout="interleaved",
        ),
        feedforward=feedforward_section(
            type="swiglu", intermediate_dim=8192, use_bias=True, width_factor=2.0 / 3.0, multiple_of=256
        ),
        norm=norm_section(type="rms_norm", epsilon=1e-5),
    )


def attention_defaults(p, rotary):
    """fairseq2's attention initializers (and RoPE when `rotary`) unless the params set them."""
    attention = p["attention"]
    heads = attention["num_heads"]
    head_dim = attention.get("head_dim") or max(p["hidden_dim"] // max(heads, 1), 1)
    return {
        "kernel_initializer": inits.qkv_kernel(heads, head_dim),
        "output_kernel_initializer": inits.output_kernel(heads),
        "use_rotary_embedding": rotary,
    }


def feedforward_defaults(p):
    """PyTorch's default `nn.Linear` initializers for the feed-forward block (when it takes them)."""
    accepted = init_arguments(get_block(p["feedforward"]["type"]))
    found = {}
    if "kernel_initializer" in accepted:
        found["kernel_initializer"] = inits.torch_linear_kernel()
    if "bias_initializer" in accepted:
        # PyTorch's bias bound is 1/sqrt(fan_in): exact for the input projections
        # (fan_in = hidden_dim), approximate for the output projection.
        found["bias_initializer"] = inits.torch_linear_bias(p["hidden_dim"])
    return found


def prenet(plan, name, p, scale_embeddings=False):
    """The PreNet node: concepts -> model width, with learned/sine positions when `position` says so."""
    position = check_choice("position", p["position"], POSITIONS)
    return plan.block(
        name,
        "concept_prenet",
        hidden_dim=p["hidden_dim"],
        position=position if position in ("learned", "sine") else "none",
        max_sequence_length=p["max_sequence_length"],
        position_initializer_stddev=p["position_initializer_stddev"],
        scale_embeddings=scale_embeddings,
    )


def concept_inputs(plan, embedding_dim):
    """`embeddings (batch, n, embedding_dim)` and `padding_mask (batch, n)` inputs."""
    return plan.input("embeddings", (None, embedding_dim), "float32"), plan.input("padding_mask", (None,), "bool")
