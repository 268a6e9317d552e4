"""Analytic FLOPs (`dlzoo.count_flops`, each block's `flops_for`) equal PyTorch's own count.

PyTorch's `torch.utils.flop_counter.FlopCounterMode` counts, op by op, what
the torch backend really runs (mm, bmm, addmm, convolutions: 2 x
multiply-adds, the same convention as `dlzoo.flops`). Scaled dot-product
attention is run on PyTorch's math kernel here: the CPU flash kernel
(`_scaled_dot_product_flash_attention_for_cpu`) has no FLOP formula in
`FlopCounterMode` (torch 2.13) and would count attention as 0, while the
math kernel is made of `bmm`s the counter sees.

Needs the torch backend, so it runs in the torch suite only.
"""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch", reason="FlopCounterMode needs the torch backend")

import dlzoo  # noqa: E402
import dlzoo.catalog  # noqa: E402,F401  (registers every block and family)
from dlzoo.registry import BLOCKS, count_layer_flops  # noqa: E402
from dlzoo.testing.parity import _as_spec, model_inputs, model_names  # noqa: E402
from dlzoo.testing.test_case import _shape_of, _split_inputs, make_input  # noqa: E402

TOLERANCE = 0.01  # the bar; every figure below is in fact exact
MODELS = [name.split(":", 1)[1] for name in model_names()]
BLOCK_ENTRIES = [e for e in BLOCKS.entries() if e.example]


def torch_flops(fn):
    """FLOPs PyTorch counts while `fn()` runs (attention on the math kernel)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def assert_close(analytic, measured, what):
    assert measured > 0 or analytic == 0, f"{what}: PyTorch counted no FLOPs"
    error = abs(analytic - measured) / max(measured, 1)
    assert error <= TOLERANCE, f"{what}: analytic {analytic:,} vs FlopCounterMode {measured:,} ({error:.2%})"


def test_every_family_has_a_tiny_model_here():
    families = {dlzoo.describe(name)["model"] for name in MODELS}
    assert families >= {"gpt", "llama", "bert", "resnet", "vit", "convnext", "efficientnet", "dit"}, families


@pytest.mark.parametrize("name", MODELS)
def test_tiny_model_matches_flop_counter(name):
    keras.utils.set_random_seed(0)
    model = dlzoo.build(name)
    batch, length = 2, 6
    data = model_inputs(model, batch=batch, seq=length)
    measured = torch_flops(lambda: model(data, training=False))
    analytic = dlzoo.count_flops(name, batch_size=batch, sequence_length=length)
    assert_close(analytic, measured, name)
    assert dlzoo.count_flops(name, batch_size=batch, sequence_length=length, training=True) == 3 * analytic


@pytest.mark.parametrize("name,batch,length", [("gpt-tiny", 3, 11), ("llama-tiny", 1, 17), ("bert-tiny", 4, 9)])
def test_other_sizes_match_flop_counter(name, batch, length):
    keras.utils.set_random_seed(0)
    model = dlzoo.build(name)
    data = model_inputs(model, batch=batch, seq=length)
    measured = torch_flops(lambda: model(data, training=False))
    assert_close(dlzoo.count_flops(name, batch_size=batch, sequence_length=length), measured, f"{name} {batch}x{length}")


@pytest.mark.parametrize("entry", BLOCK_ENTRIES, ids=[e.name for e in BLOCK_ENTRIES])
def test_block_example_matches_flop_counter(entry):
    """Each registered block (Keras' own layers included) on its registry example."""
    example = entry.example
    keras.utils.set_random_seed(0)
    layer = entry.obj(**example.get("init_kwargs", {}))
    data = make_input(_as_spec(example["inputs"]), seed=0)
    positional, tensor_kwargs, _ = _split_inputs(data)
    call_kwargs = dict(example.get("call_kwargs", {}))
    layer(positional, **tensor_kwargs, **call_kwargs)  # builds outside the count (initialisers are not the forward pass)
    analytic = count_layer_flops(
        layer,
        _shape_of(positional),
        **{f"{key}_shape": _shape_of(value) for key, value in tensor_kwargs.items()},
        **call_kwargs,
    )
    measured = torch_flops(lambda: layer(positional, **tensor_kwargs, **call_kwargs))
    assert_close(analytic, measured, entry.name)
