"""Greedy `dlzoo.generate` against Hugging Face `transformers` `generate` on the same (copied) weights.

Tiny GPT-2 and Llama models with random, perturbed weights are saved with
`save_pretrained` and loaded by `dlzoo.build(directory)`; a left-padded batch
is continued greedily by both, with and without a stop (end-of-sequence)
token. The token ids must be identical.
"""

import numpy as np
import pytest

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

V, D, H, KV, F, L, S = 64, 32, 4, 2, 48, 2, 32
NEW_TOKENS = 12


def perturbed(model, seed):
    """Weights moved off their init (embeddings small), so greedy paths depend on every tensor."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("wte.weight", "wpe.weight", "embed_tokens.weight")):
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))
            else:
                p.add_(0.5 * torch.randn(p.shape, generator=generator))
    return model.eval()


REFERENCES = {
    "gpt2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=V, n_positions=S, n_embd=D, n_layer=L, n_head=H, n_inner=F, bos_token_id=None, eos_token_id=None)),
    "llama": lambda: transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV,
        intermediate_size=F, max_position_embeddings=S, rope_theta=500.0, bos_token_id=None, eos_token_id=None)),
}

PROMPTS = np.array([[0, 0, 0, 5, 9, 17], [3, 8, 21, 34, 2, 11], [0, 40, 41, 42, 43, 44]])
MASK = PROMPTS != 0


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def pair(request, tmp_path_factory):
    torch.manual_seed(0)
    reference = perturbed(REFERENCES[request.param](), seed=1)
    directory = tmp_path_factory.mktemp(request.param)
    reference.save_pretrained(directory)
    return request.param, dlzoo.build(str(directory)), reference


def reference_generate(reference, **kwargs):
    with torch.no_grad():
        return reference.generate(torch.tensor(PROMPTS, dtype=torch.long),
                                  attention_mask=torch.tensor(MASK.astype("int64")), do_sample=False,
                                  max_new_tokens=NEW_TOKENS, pad_token_id=0, **kwargs).numpy()


def test_greedy_equals_transformers_generate(pair):
    name, model, reference = pair
    expected = reference_generate(reference)
    got = dlzoo.generate(model, PROMPTS, padding_mask=MASK, max_new_tokens=NEW_TOKENS)
    assert all(len(set(row)) > 4 for row in expected[:, 6:].tolist()), "degenerate reference: a row repeats itself"
    np.testing.assert_array_equal(got, expected, err_msg=name)


def test_stop_token_equals_transformers_eos(pair):
    name, model, reference = pair
    free = reference_generate(reference)
    stop = int(free[1, 6 + 3])  # row 1's fourth new token
    expected = reference_generate(reference, eos_token_id=stop)
    got = dlzoo.generate(model, PROMPTS, padding_mask=MASK, max_new_tokens=NEW_TOKENS, stop_token_ids=stop)
    assert expected.shape[1] <= free.shape[1]
    np.testing.assert_array_equal(got, expected, err_msg=name)
