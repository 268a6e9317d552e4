"""Write `.keras` files and presets with dlzoo 0.1.0 (main at b9ae66b), before the family-plan redesign.

Run once, with the old code, on the jax backend:

    KERAS_BACKEND=jax python tests/data/make_legacy_models.py

Each model's weights are perturbed with seeded noise (so a wrong mapping of
one norm or layer onto another would change the outputs), saved, and run on
fixed inputs; `tests/test_legacy_files.py` loads them with today's code on
every backend and compares the outputs.
"""

import os
import sys
from pathlib import Path

import numpy as np

import keras
import dlzoo

OUT = Path(__file__).resolve().parent / "legacy_v0_1"

SMALL_LM = {"vocabulary_size": 128, "max_sequence_length": 16, "hidden_dim": 32, "feedforward": {"intermediate_dim": 64}}
SMALL_BERT = dict(SMALL_LM, attention={"num_heads": 4})
SMALL_LCM = {"embedding_dim": 48}

MODELS = {
    "gpt-tiny": dict(source="gpt-tiny", params=SMALL_LM),
    "llama-tiny": dict(source="llama-tiny", params=SMALL_LM),
    "bert-tiny": dict(source="bert-tiny", params=SMALL_BERT),
    "lcm-base-tiny": dict(source="lcm-base-tiny", params=SMALL_LCM),
    "lcm-two-tower-tiny": dict(source="lcm-two-tower-tiny", params=SMALL_LCM),
    "image-convnext-tiny": dict(source="image-convnext-tiny"),
    "image-mlp-tiny": dict(source="image-mlp-tiny"),
    "bert-tiny-classifier": dict(
        source="bert-tiny", params=SMALL_BERT,
        extensions=[{"name": "classification_head", "num_classes": 3, "pooling": "cls"}],
    ),
    "gpt-tiny-lm-pooled": dict(
        source="gpt-tiny", params=SMALL_LM, extensions=[{"name": "regression_head", "outputs": 2, "pooling": "last"}]
    ),
    "llama-tiny-lora": dict(source="llama-tiny", params=SMALL_LM, extensions=[{"name": "lora", "rank": 2, "targets": ["query", "value"]}]),
    "gpt-tiny-features": dict(source="gpt-tiny", params=SMALL_LM, extensions=[{"name": "features_only", "layers": [0, -1]}]),
    "llama-tiny-gqa-swapped": dict(source="llama-tiny", params=dict(SMALL_LM, norm={"type": "layer_norm"}, attention={"use_bias": True, "num_key_value_heads": 1})),
}


def perturb(model, seed):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = keras.ops.convert_to_numpy(w.value)
        if not np.issubdtype(value.dtype, np.floating):
            continue
        w.assign((value + rng.normal(0.0, 0.05, value.shape)).astype(value.dtype))


def inputs_for(model, seed):
    rng = np.random.default_rng(seed)
    data = {}
    for key, spec in model.input.items():
        shape = [2] + [7 if d is None else d for d in spec.shape[1:]]
        dtype = keras.backend.standardize_dtype(spec.dtype)
        if key == "padding_mask":
            mask = np.ones(shape, dtype=bool)
            mask[1, 5:] = False
            data[key] = mask
        elif dtype.startswith("int"):
            data[key] = rng.integers(0, 2 if key == "segment_ids" else 128, size=shape).astype(dtype)
        else:
            data[key] = rng.normal(size=shape).astype(dtype)
    return data


def outputs_of(name, model, data):
    if name == "lcm-two-tower-tiny":
        # The training graph draws noise; compare the deterministic towers instead.
        h = model.get_layer("encoder_prenet")(data["embeddings"])
        context = model.get_layer("encoder")(h, padding_mask=data["padding_mask"])
        timesteps = np.array([[3, 50, 99, 0, 10, 20, 30], [1, 2, 3, 4, 5, 6, 7]], dtype="int32")
        out = model.get_layer("denoiser")(
            data["embeddings"], timesteps=timesteps, context=context, context_padding_mask=data["padding_mask"]
        )
        return {"context": context, "denoised": out}, {"timesteps": timesteps}
    out = model(data, training=False)
    if isinstance(out, dict):
        return out, {}
    return {"output": out}, {}


def main():
    assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
    OUT.mkdir(exist_ok=True)
    for i, (name, spec) in enumerate(MODELS.items()):
        keras.utils.set_random_seed(i)
        model = dlzoo.build(spec["source"], extensions=spec.get("extensions"), **spec.get("params", {}))
        perturb(model, seed=100 + i)
        data = inputs_for(model, seed=200 + i)
        outputs, extra = outputs_of(name, model, data)
        model.save(OUT / f"{name}.keras")
        arrays = {f"input/{k}": np.asarray(v) for k, v in data.items()}
        arrays.update({f"output/{k}": np.asarray(keras.ops.convert_to_numpy(v)) for k, v in outputs.items()})
        arrays.update({f"extra/{k}": np.asarray(v) for k, v in extra.items()})
        np.savez(OUT / f"{name}.npz", **arrays)
        print(name, model.count_params(), sorted(arrays))
    model = dlzoo.build("llama-tiny", **SMALL_LM)
    perturb(model, seed=999)
    model.save_to_preset(OUT / "llama-tiny-preset")
    data = inputs_for(model, seed=998)
    np.savez(OUT / "llama-tiny-preset.npz", **{f"input/{k}": v for k, v in data.items()},
             **{"output/output": np.asarray(keras.ops.convert_to_numpy(model(data)))})


if __name__ == "__main__":
    sys.exit(main())
