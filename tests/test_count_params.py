"""`count_params`: exact, fast, and robust to any parameter set.

* Full-size models reproduce the published parameter counts (never built).
* Random small configs of every family: `dlzoo.count_params` equals the
  built model's `count_params()`.
* Property test (hypothesis, >= 1000 examples over every registered
  family): any parameter set either counts or fails with a clear
  `ValueError`/`TypeError` naming what is wrong, never an obscure exception.
"""

import os
import re
import time

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dlzoo
import dlzoo.catalog  # noqa: F401  (registers every family)
from dlzoo import builder
from dlzoo.parameters import Section
from dlzoo.registry import BLOCKS, MODELS
from dlzoo.resolution import family_schema

# Published figures. Each was also reproduced independently with Hugging Face
# `transformers` 5.23 (models instantiated on torch's "meta" device, so no
# memory is used: `sum(p.numel() for p in Model(config).parameters())`);
# see `test_matches_transformers_on_meta_device` below.
PUBLISHED = {
    # GPT-2 (Radford et al., 2019); model cards huggingface.co/openai-community/gpt2{,-medium,-large,-xl}
    # ("124M", "355M", "774M", "1.5B" parameters); exact values = GPT2LMHeadModel.num_parameters(),
    # LM head tied to the token embedding. (The paper's own table, 117M/345M/762M/1542M, is known to
    # be miscounted.)
    "gpt-base": 124_439_808,
    "gpt-medium": 354_823_168,
    "gpt-large": 774_030_080,
    "gpt-xlarge": 1_557_611_200,
    # Llama 2 7B (Touvron et al., 2023, arXiv:2307.09288); model card meta-llama/Llama-2-7b-hf:
    # 6,738,415,616 parameters (LlamaForCausalLM, untied head).
    "llama-2-7b": 6_738_415_616,
    # Llama 3 8B (arXiv:2407.21783); model card meta-llama/Meta-Llama-3-8B: 8.03B parameters,
    # exactly 8,030,261,248 (GQA with 8 KV heads, vocabulary 128256, SwiGLU 14336).
    "llama-3-8b": 8_030_261_248,
    # BERT (Devlin et al., 2019, arXiv:1810.04805), "BERT-base 110M, BERT-large 340M"; exact values as
    # Hugging Face BertModel / keras-hub BertBackbone (with the pooler): google-bert/bert-base-uncased
    # 109,482,240 and google-bert/bert-large-uncased 335,141,888.
    "bert-base": 109_482_240,
    "bert-large": 335_141_888,
    # BERT-Tiny (Turc et al., 2019, arXiv:1908.08962; google/bert_uncased_L-2_H-128_A-2): 4,385,920.
    "bert-tiny": 4_385_920,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    assert dlzoo.count_params(name) == PUBLISHED[name]


def closed_form_decoder(V, d, L, f, heads, kv, max_len=None, biases=False, swiglu=False, tied=True, norm_bias=True):
    """Textbook count of a GPT-2 / Llama decoder, written independently of the blocks."""
    head = d // heads
    attn = d * d + 2 * d * kv * head + d * d + ((d + 2 * kv * head + d) if biases else 0)
    ffn = (3 * d * f) if swiglu else (2 * d * f + ((f + d) if biases else 0))
    norm = 2 * d if norm_bias else d
    total = V * d + (max_len * d if max_len else 0) + L * (attn + ffn + 2 * norm) + norm
    return total + (0 if tied else V * d)


def test_closed_forms_agree():
    assert closed_form_decoder(50257, 768, 12, 3072, 12, 12, max_len=1024, biases=True) == PUBLISHED["gpt-base"]
    assert closed_form_decoder(50257, 1600, 48, 6400, 25, 25, max_len=1024, biases=True) == PUBLISHED["gpt-xlarge"]
    llama2 = closed_form_decoder(32000, 4096, 32, 11008, 32, 32, swiglu=True, tied=False, norm_bias=False)
    assert llama2 == PUBLISHED["llama-2-7b"]
    llama3 = closed_form_decoder(128256, 4096, 32, 14336, 32, 8, swiglu=True, tied=False, norm_bias=False)
    assert llama3 == PUBLISHED["llama-3-8b"]
    # Changing a size moves the count by exactly the closed form.
    assert dlzoo.count_params("llama-2-7b", num_layers=2) == closed_form_decoder(
        32000, 4096, 2, 11008, 32, 32, swiglu=True, tied=False, norm_bias=False
    )


@pytest.mark.backend_agnostic
def test_count_is_fast_for_the_largest_model():
    largest = max(dlzoo.list_models(), key=dlzoo.count_params)
    dlzoo.count_params(largest)  # warm caches (YAML parser, registries)
    start = time.perf_counter()
    count = dlzoo.count_params(largest)
    seconds = time.perf_counter() - start
    print(f"count_params({largest!r}) = {count:,} in {seconds * 1000:.1f} ms")
    assert seconds < 1.0
    start = time.perf_counter()
    assert dlzoo.count_params("llama-3-8b") == PUBLISHED["llama-3-8b"]
    assert time.perf_counter() - start < 1.0


@pytest.mark.slow
def test_matches_transformers_on_meta_device():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    def n(model):
        return sum(p.numel() for p in model.parameters())

    with torch.device("meta"):
        gpt = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=1024, n_layer=24, n_head=16))
        llama = transformers.LlamaForCausalLM(
            transformers.LlamaConfig(
                vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=8,
            )
        )
        bert = transformers.BertModel(transformers.BertConfig())
    assert n(gpt) == dlzoo.count_params("gpt-medium")
    assert n(llama) == dlzoo.count_params("llama-3-8b")
    assert n(bert) == dlzoo.count_params("bert-base")


# ------------------------------------------------- random small valid configs
FEEDFORWARDS = ["mlp", "swiglu", "geglu", "gated_linear_unit"]


@st.composite
def small_valid_params(draw, family):
    # Few distinct sizes, so that backends that compile per shape (JAX) reuse their caches.
    heads = draw(st.sampled_from([1, 2, 4]))
    kv = draw(st.sampled_from([None] + [k for k in range(1, heads + 1) if heads % k == 0]))
    if draw(st.booleans()):
        head_dim, hidden = draw(st.sampled_from([2, 4])), draw(st.sampled_from([4, 6, 8]))
    else:
        head_dim, hidden = None, heads * draw(st.sampled_from([2, 4]))
    ff = draw(st.sampled_from(FEEDFORWARDS))
    feedforward = {"type": ff, "intermediate_dim": draw(st.sampled_from([1, 8])), "use_bias": draw(st.booleans())}
    if ff in ("mlp", "gated_linear_unit") and draw(st.booleans()):
        feedforward["activation"] = draw(st.sampled_from(["relu", "gelu"]))
    params = {
        "vocabulary_size": draw(st.sampled_from([2, 8])),
        "hidden_dim": hidden,
        "num_layers": draw(st.integers(1, 2)),
        "max_sequence_length": draw(st.sampled_from([5, 8])),
        "dropout": draw(st.sampled_from([0.0, 0.1])),
        "norm_position": draw(st.sampled_from(["pre", "post"])),
        "attention": {
            "num_heads": heads,
            "num_key_value_heads": kv,
            "head_dim": head_dim,
            "use_qkv_bias": draw(st.booleans()),
            "use_output_bias": draw(st.booleans()),
            "use_qk_norm": draw(st.booleans()),
        },
        "feedforward": feedforward,
        "norm": {"type": draw(st.sampled_from(["layer_norm", "rms_norm"]))},
    }
    if family in ("gpt", "llama"):
        params["tie_embeddings"] = draw(st.booleans())
        params["use_lm_head"] = draw(st.booleans())
    if family == "bert":
        params["num_segments"] = draw(st.integers(0, 3))
        params["use_pooler"] = draw(st.booleans())
    return params


def _feed(model, rng, seq=5):
    feed = {}
    for key, spec in model.input.items():
        if spec.dtype == "bool":
            feed[key] = np.ones((2, seq), bool)
        elif key == "segment_ids":  # num_segments may be 1
            feed[key] = np.zeros((2, seq), "int32")
        else:  # vocabulary_size >= 2
            feed[key] = rng.integers(0, 2, (2, seq)).astype("int32")
    return feed


BUILD_EXAMPLES = int(os.environ.get("DLZOO_BUILD_EXAMPLES", "5"))


@pytest.mark.parametrize("family", ["gpt", "llama", "bert"])
def test_count_equals_built_model_over_random_small_configs(family):
    @settings(
        max_examples=BUILD_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(small_valid_params(family))
    def check(params):
        expected = dlzoo.count_params(family, **params)
        model = dlzoo.build(family, **params)
        assert model.count_params() == expected, params
        out = model(_feed(model, np.random.default_rng(0)))
        for tensor in out.values() if isinstance(out, dict) else [out]:
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(tensor)))

    check()


# ------------------------------------------------------ property-based test
BAD_VALUES = [0, -3, 2.5, "8", None, True, [1], {"x": 1}, float("nan")]
STRINGS = ["bogus", "layer_nrom", ""]


def _mostly(good, bad, one_in=12):
    """`bad` about once in `one_in` draws, else `good`."""
    return st.integers(0, one_in - 1).flatmap(lambda i: bad if i == 0 else good)


def _value_strategy(name, default):
    """Values for one parameter: plausible ones, the default, and wrong ones."""
    if isinstance(default, bool):
        good = st.booleans()
    elif isinstance(default, int):
        good = st.integers(1, 16) if "dim" in name or name.startswith("num_") else st.integers(0, 8)
    elif isinstance(default, float):
        good = st.floats(0.0, 1.0, allow_nan=False)
    elif isinstance(default, str):
        good = st.sampled_from(sorted(set(BLOCKS.names()) | {default}))
    elif isinstance(default, Section):  # a block's arguments: its defaults, varied, plus unknown keys now and then
        keys = dict(default.defaults, **({"type": default.defaults["type"]} if default.role else {}))
        varied = _params_strategy(keys, prefix=name + ".")
        extra = st.fixed_dictionaries({}, optional={"bogus": st.integers(0, 2), "use_qk_norm": st.booleans()})
        return _mostly(st.tuples(varied, extra).map(lambda pair: {**pair[0], **pair[1]}), st.sampled_from(BAD_VALUES))
    elif isinstance(default, dict):
        if not default:
            return st.one_of(
                st.just({}),
                st.dictionaries(st.sampled_from(["use_qk_norm", "bogus", "width_factor", "num_experts", "top_k"]),
                                st.one_of(st.booleans(), st.integers(-1, 4), st.floats(0, 2))),
                st.sampled_from(BAD_VALUES),
            )
        return _mostly(_params_strategy(default, prefix=name + "."), st.sampled_from(BAD_VALUES))
    else:  # None default: anything goes in, the family's validate decides
        good = st.one_of(st.none(), st.integers(-1, 16), st.sampled_from(["gelu", "relu", "silu"]))
    # Mostly plausible values (so that many sets succeed or fail on a real combination), sometimes wrong ones.
    return _mostly(st.one_of(good, st.just(default)), st.sampled_from(BAD_VALUES + STRINGS))


def _params_strategy(schema, prefix=""):
    optional = {key: _value_strategy(prefix + key, default) for key, default in schema.items()}
    return st.fixed_dictionaries({}, optional=optional)


def _families():
    """Every registered family (narrow with DLZOO_TEST_FAMILIES=gpt,llama while debugging one)."""
    only = [f for f in os.environ.get("DLZOO_TEST_FAMILIES", "").split(",") if f]
    return sorted(n for n in MODELS.names() if not only or n in only)


@st.composite
def any_params(draw):
    family = draw(st.sampled_from(_families()))
    schema = family_schema(family)
    params = draw(_params_strategy(schema))
    if draw(st.integers(0, 19)) == 0:
        params[draw(st.sampled_from(["bogus", "num_layer", "attention.bogus", "hidden__dim"]))] = 1
    return family, params


# A clear error names what is wrong: a quoted or backticked name, and the value received.
CLEAR = re.compile(r"(`[^`]+`|'[^']+')")


@pytest.mark.backend_agnostic  # counting reads the plan and each block's formula: no backend involved
@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
@given(any_params())
def test_any_parameter_set_counts_or_fails_clearly(family_params):
    family, params = family_params
    try:
        count = dlzoo.count_params(family, **params)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert CLEAR.search(message), f"unclear error for {family} {params}: {message!r}"
        assert "Received" in message or "Did you mean" in message or "Allowed" in message, message
        event(f"{family}: {type(exc).__name__}")
        return
    event(f"{family}: counted")
    assert isinstance(count, int) and count > 0
