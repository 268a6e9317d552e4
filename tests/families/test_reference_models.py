"""Whole models against independent implementations with copied weights (float32, <= 1e-5).

`gpt` and `bert` against Hugging Face `transformers` (PyTorch), `llama`
against keras-hub's `LlamaBackbone`, and `encoder_decoder` against PyTorch's
`torch.nn.Transformer`. Every weight is perturbed first (default inits hide
mistakes: unit norm scales, zero biases), and each test also shows that a
plausible mistake (a swapped RoPE layout, a transposed head order, swapped
layers) moves the outputs far above the tolerance, so the comparison can fail.
Runs in every backend's suite: dlzoo on the backend under test, the reference
on its own.
"""

import numpy as np
import pytest

import keras

import dlzoo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

V, D, H, L, F, S = 50, 32, 4, 2, 48, 16


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def perturb_torch(module, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator))


def t(tensor):
    return tensor.detach().numpy().astype("float32")


def token_batch(seed=0, pad=True):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (2, 9)).astype("int32")
    mask = np.ones((2, 9), bool)
    if pad:
        mask[1, 6:] = False
    return ids, mask


def assign(variable, value):
    value = np.asarray(value, dtype="float32")
    assert tuple(variable.shape) == value.shape, (variable.path, tuple(variable.shape), value.shape)
    variable.assign(value)


# --------------------------------------------------------------------- GPT-2
def copy_gpt2(hf, model):
    sd = hf.transformer.state_dict()
    assign(model.get_layer("token_embedding").embeddings, t(sd["wte.weight"]))
    assign(model.get_layer("position_embedding").embeddings, t(sd["wpe.weight"])[:S])
    stack = model.get_layer("decoder")
    for i, layer in enumerate(stack.transformer_layers):
        p = f"h.{i}."
        qkv_w, qkv_b = t(sd[p + "attn.c_attn.weight"]), t(sd[p + "attn.c_attn.bias"])  # Conv1D: (in, out)
        att = layer.self_attention
        for j, dense in enumerate((att.query_dense, att.key_dense, att.value_dense)):
            assign(dense.kernel, qkv_w[:, j * D:(j + 1) * D].reshape(D, H, D // H))
            assign(dense.bias, qkv_b[j * D:(j + 1) * D].reshape(H, D // H))
        assign(att.output_dense.kernel, t(sd[p + "attn.c_proj.weight"]).reshape(H, D // H, D))
        assign(att.output_dense.bias, t(sd[p + "attn.c_proj.bias"]))
        for norm, hf_name in ((layer.self_attention_norm, "ln_1"), (layer.feedforward_norm, "ln_2")):
            assign(norm.scale, t(sd[p + hf_name + ".weight"]))
            assign(norm.bias, t(sd[p + hf_name + ".bias"]))
        ff = layer.feedforward_block
        assign(ff.inner_proj.kernel, t(sd[p + "mlp.c_fc.weight"]))
        assign(ff.inner_proj.bias, t(sd[p + "mlp.c_fc.bias"]))
        assign(ff.output_proj.kernel, t(sd[p + "mlp.c_proj.weight"]))
        assign(ff.output_proj.bias, t(sd[p + "mlp.c_proj.bias"]))
    assign(stack.final_norm.scale, t(sd["ln_f.weight"]))
    assign(stack.final_norm.bias, t(sd["ln_f.bias"]))


def test_gpt_matches_transformers_gpt2():
    config = transformers.GPT2Config(
        vocab_size=V, n_positions=S, n_embd=D, n_layer=L, n_head=H, n_inner=F,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
    )
    hf = transformers.GPT2LMHeadModel(config).eval()
    perturb_torch(hf)
    model = dlzoo.build(
        "gpt-tiny", vocabulary_size=V, hidden_dim=D, num_layers=L, max_sequence_length=S, dropout=0.0,
        attention={"num_heads": H, "attention_dropout": 0.0}, feedforward={"intermediate_dim": F},
    )
    copy_gpt2(hf, model)
    ids, mask = token_batch()
    with torch.no_grad():
        expected = hf(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask.astype("int64"))).logits.numpy()
    got = to_numpy(model({"token_ids": ids, "padding_mask": mask}))
    np.testing.assert_allclose(got[mask], expected[mask], atol=1e-5, rtol=1e-5)
    # A query projection with its heads in the wrong order is caught.
    att = model.get_layer("decoder").transformer_layers[0].self_attention
    kernel = to_numpy(att.query_dense.kernel)
    att.query_dense.kernel.assign(kernel[:, ::-1, :].astype("float32"))
    wrong = to_numpy(model({"token_ids": ids, "padding_mask": mask}))
    assert np.abs(wrong[mask] - expected[mask]).max() > 1e-2


# ---------------------------------------------------------------------- BERT
def copy_bert(hf, model):
    sd = hf.state_dict()
    e = "embeddings."
    assign(model.get_layer("token_embedding").embeddings, t(sd[e + "word_embeddings.weight"]))
    assign(model.get_layer("position_embedding").embeddings, t(sd[e + "position_embeddings.weight"])[:S])
    assign(model.get_layer("segment_embedding").embeddings, t(sd[e + "token_type_embeddings.weight"]))
    assign(model.get_layer("embeddings_norm").scale, t(sd[e + "LayerNorm.weight"]))
    assign(model.get_layer("embeddings_norm").bias, t(sd[e + "LayerNorm.bias"]))
    for i, layer in enumerate(model.get_layer("encoder").transformer_layers):
        p = f"encoder.layer.{i}."
        att = layer.self_attention
        for dense, hf_name in ((att.query_dense, "query"), (att.key_dense, "key"), (att.value_dense, "value")):
            assign(dense.kernel, t(sd[p + f"attention.self.{hf_name}.weight"]).T.reshape(D, H, D // H))
            assign(dense.bias, t(sd[p + f"attention.self.{hf_name}.bias"]).reshape(H, D // H))
        assign(att.output_dense.kernel, t(sd[p + "attention.output.dense.weight"]).T.reshape(H, D // H, D))
        assign(att.output_dense.bias, t(sd[p + "attention.output.dense.bias"]))
        for norm, hf_name in ((layer.self_attention_norm, "attention.output.LayerNorm"), (layer.feedforward_norm, "output.LayerNorm")):
            assign(norm.scale, t(sd[p + hf_name + ".weight"]))
            assign(norm.bias, t(sd[p + hf_name + ".bias"]))
        ff = layer.feedforward_block
        assign(ff.inner_proj.kernel, t(sd[p + "intermediate.dense.weight"]).T)
        assign(ff.inner_proj.bias, t(sd[p + "intermediate.dense.bias"]))
        assign(ff.output_proj.kernel, t(sd[p + "output.dense.weight"]).T)
        assign(ff.output_proj.bias, t(sd[p + "output.dense.bias"]))
    pooler = model.get_layer("pooler").dense
    assign(pooler.kernel, t(sd["pooler.dense.weight"]).T)
    assign(pooler.bias, t(sd["pooler.dense.bias"]))


def test_bert_matches_transformers_bert():
    config = transformers.BertConfig(
        vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H, intermediate_size=F,
        max_position_embeddings=S, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    hf = transformers.BertModel(config).eval()
    perturb_torch(hf)
    model = dlzoo.build(
        "bert-tiny", vocabulary_size=V, hidden_dim=D, num_layers=L, max_sequence_length=S, dropout=0.0,
        attention={"num_heads": H, "attention_dropout": 0.0}, feedforward={"intermediate_dim": F},
    )
    copy_bert(hf, model)
    ids, mask = token_batch()
    segments = (np.arange(9)[None, :] >= 4).astype("int32").repeat(2, axis=0)
    with torch.no_grad():
        out = hf(
            torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask.astype("int64")),
            token_type_ids=torch.tensor(segments, dtype=torch.long),
        )
    got = model({"token_ids": ids, "segment_ids": segments, "padding_mask": mask})
    np.testing.assert_allclose(to_numpy(got["sequence_output"])[mask], out.last_hidden_state.numpy()[mask], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(got["pooled_output"]), out.pooler_output.numpy(), atol=1e-5, rtol=1e-5)
    # Swapping the two layers' weights is caught.
    layers = model.get_layer("encoder").transformer_layers
    first = [to_numpy(w) for w in layers[0].weights]
    for w0, w1 in zip(layers[0].weights, layers[1].weights):
        w0.assign(keras.ops.convert_to_numpy(w1))
    for w1, value in zip(layers[1].weights, first):
        w1.assign(value.astype("float32"))
    wrong = model({"token_ids": ids, "segment_ids": segments, "padding_mask": mask})
    assert np.abs(to_numpy(wrong["sequence_output"])[mask] - out.last_hidden_state.numpy()[mask]).max() > 1e-2


# --------------------------------------------------------------------- Llama
def test_llama_matches_keras_hub_llama_backbone():
    import keras_hub

    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=V, num_layers=L, num_query_heads=H, hidden_dim=D, intermediate_dim=F,
        num_key_value_heads=2, rope_max_wavelength=10000, layer_norm_epsilon=1e-5,
    )
    rng = np.random.default_rng(0)
    for w in backbone.weights:
        w.assign((to_numpy(w) + 0.2 * rng.standard_normal(tuple(w.shape))).astype("float32"))
    params = dict(
        vocabulary_size=V, hidden_dim=D, num_layers=L, max_sequence_length=S, use_lm_head=False,
        attention={"num_heads": H, "num_key_value_heads": 2}, feedforward={"intermediate_dim": F},
    )
    model = dlzoo.build("llama-tiny", **params)
    hub = {w.path: w for w in backbone.weights}
    renames = {
        "self_attention_layernorm": "self_attention_norm", "feedforward_layernorm": "feedforward_norm",
        "feedforward_gate_dense": "feedforward/gate_proj", "feedforward_intermediate_dense": "feedforward/inner_proj",
        "feedforward_output_dense": "feedforward/output_proj",
    }
    for w in model.weights:
        path = w.path.replace("decoder/final_norm", "sequence_output_layernorm").replace("decoder/", "")
        for hub_name, zoo_name in renames.items():
            path = path.replace(zoo_name, hub_name)
        w.assign(keras.ops.convert_to_numpy(hub[path]))
    ids, mask = token_batch()
    expected = to_numpy(backbone({"token_ids": ids, "padding_mask": mask}))
    got = to_numpy(model({"token_ids": ids, "padding_mask": mask}))
    np.testing.assert_allclose(got[mask], expected[mask], atol=1e-5, rtol=1e-5)
    # The other RoPE layout (Meta's interleaved pairs) is caught.
    interleaved = dlzoo.build("llama-tiny", **dict(params, attention=dict(params["attention"], rope_layout="interleaved")))
    for w, v in zip(interleaved.weights, model.weights):
        w.assign(keras.ops.convert_to_numpy(v))
    wrong = to_numpy(interleaved({"token_ids": ids, "padding_mask": mask}))
    assert np.abs(wrong[mask] - expected[mask]).max() > 1e-2


# ------------------------------------------------------- encoder-decoder
def test_encoder_decoder_matches_torch_transformer():
    """`encoder_decoder` (post-norm, ReLU) = `torch.nn.Transformer` between the embedding and the tied head."""
    torch.manual_seed(0)
    reference = torch.nn.Transformer(
        d_model=D, nhead=H, num_encoder_layers=L, num_decoder_layers=L, dim_feedforward=F, dropout=0.0,
        batch_first=True, norm_first=False, layer_norm_eps=1e-6,
    ).eval()
    # PyTorch ends each stack with an extra LayerNorm; the paper's post-norm stacks (and dlzoo's) do not.
    reference.encoder.norm = torch.nn.Identity()
    reference.decoder.norm = torch.nn.Identity()
    perturb_torch(reference)
    model = dlzoo.build(
        "transformer-tiny", vocabulary_size=V, hidden_dim=D, num_encoder_layers=L, num_decoder_layers=L,
        dropout=0.0, attention={"num_heads": H}, feedforward={"intermediate_dim": F},
    )
    sd = reference.state_dict()

    def copy_attention(att, prefix):
        w, b = t(sd[prefix + "in_proj_weight"]), t(sd[prefix + "in_proj_bias"])  # (3d, d) rows q, k, v
        for j, dense in enumerate((att.query_dense, att.key_dense, att.value_dense)):
            assign(dense.kernel, w[j * D:(j + 1) * D].T.reshape(D, H, D // H))
            assign(dense.bias, b[j * D:(j + 1) * D].reshape(H, D // H))
        assign(att.output_dense.kernel, t(sd[prefix + "out_proj.weight"]).T.reshape(H, D // H, D))
        assign(att.output_dense.bias, t(sd[prefix + "out_proj.bias"]))

    def copy_norm(norm, prefix):
        assign(norm.scale, t(sd[prefix + ".weight"]))
        assign(norm.bias, t(sd[prefix + ".bias"]))

    def copy_ff(ff, prefix):
        assign(ff.inner_proj.kernel, t(sd[prefix + "linear1.weight"]).T)
        assign(ff.inner_proj.bias, t(sd[prefix + "linear1.bias"]))
        assign(ff.output_proj.kernel, t(sd[prefix + "linear2.weight"]).T)
        assign(ff.output_proj.bias, t(sd[prefix + "linear2.bias"]))

    for i, layer in enumerate(model.get_layer("encoder").transformer_layers):
        p = f"encoder.layers.{i}."
        copy_attention(layer.self_attention, p + "self_attn.")
        copy_norm(layer.self_attention_norm, p + "norm1")
        copy_norm(layer.feedforward_norm, p + "norm2")
        copy_ff(layer.feedforward_block, p)
    for i, layer in enumerate(model.get_layer("decoder").transformer_layers):
        p = f"decoder.layers.{i}."
        copy_attention(layer.self_attention, p + "self_attn.")
        copy_attention(layer.cross_attention, p + "multihead_attn.")
        copy_norm(layer.self_attention_norm, p + "norm1")
        copy_norm(layer.cross_attention_norm, p + "norm2")
        copy_norm(layer.feedforward_norm, p + "norm3")
        copy_ff(layer.feedforward_block, p)
    rng = np.random.default_rng(1)
    source, source_mask = token_batch(seed=2)
    target = rng.integers(0, V, (2, 7)).astype("int32")
    target_mask = np.ones((2, 7), bool)
    inputs = {"source_ids": source, "source_padding_mask": source_mask, "target_ids": target, "target_padding_mask": target_mask}
    logits = to_numpy(model(inputs))
    # The reference from the same embeddings: dlzoo's scaled token + sinusoidal position embeddings.
    table = to_numpy(model.get_layer("token_embedding").embeddings)
    positions = to_numpy(model.get_layer("position_embedding")(np.zeros((1, 9, D), "float32")))[0]
    src = table[source] * np.sqrt(D) + positions[:9]
    tgt = table[target] * np.sqrt(D) + positions[:7]
    with torch.no_grad():
        hidden = reference(
            torch.tensor(src, dtype=torch.float32), torch.tensor(tgt, dtype=torch.float32),
            tgt_mask=reference.generate_square_subsequent_mask(7),
            src_key_padding_mask=torch.tensor(~source_mask), memory_key_padding_mask=torch.tensor(~source_mask),
        ).numpy()
    np.testing.assert_allclose(logits, hidden @ table.T, atol=1e-4, rtol=1e-4)
    # The same model without the sqrt(d) embedding scale is far off: the comparison can fail.
    unscaled = dlzoo.build("transformer-tiny", **dict(model.zoo_config["params"], scale_embeddings=False))
    for w, v in zip(unscaled.weights, model.weights):
        w.assign(keras.ops.convert_to_numpy(v))
    assert np.abs(to_numpy(unscaled(inputs)) - hidden @ table.T).max() > 1e-2
