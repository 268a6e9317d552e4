"""The builder: resolution order, overrides, validation before allocation, extensions, save/load, describe/diff/memory."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from unittest import mock

import keras
import numpy as np
import pytest

import dlzoo
from dlzoo import builder, configs
from dlzoo.extensions import Extension
from dlzoo.registry import register_extension
from dlzoo.testing import TestCase
from dlzoo.zoo_model import ZooModel

# A very small GPT: every build in this file starts from it.
SMALL = dict(vocabulary_size=32, hidden_dim=16, num_layers=1, max_sequence_length=16, attention={"num_heads": 2})
# The same without `num_layers` (gpt-tiny has 2), for extensions that change the depth.
NARROW = {k: v for k, v in SMALL.items() if k != "num_layers"}


# ----------------------------------------------------- test-only extensions
@register_extension("test_set_params", paper=None)
class SetParams(Extension):
    """Config transform: set some params."""

    def __init__(self, num_layers=3, dropout=0.25):
        self.num_layers = num_layers
        self.dropout = dropout

    def apply_config(self, config):
        config["params"]["num_layers"] = self.num_layers
        config["params"]["dropout"] = self.dropout
        return config


@register_extension("test_deeper", paper=None, conflicts_with=("test_shallower",))
class Deeper(Extension):
    """Config transform that is not idempotent: one more layer each time it is applied."""

    def __init__(self, extra_layers=1):
        self.extra_layers = extra_layers

    def apply_config(self, config):
        config["params"]["num_layers"] += self.extra_layers
        return config


@register_extension("test_shallower", paper=None)
def shallower(config, by=1):
    config["params"]["num_layers"] = max(1, config["params"]["num_layers"] - by)
    return config


@register_extension("test_head", paper=None)
class Head(Extension):
    """Model transform: a Dense head on the output, counted without building."""

    def __init__(self, units=3):
        self.units = units

    def apply_model(self, model):
        outputs = keras.layers.Dense(self.units, name="test_head")(model.output)
        return model.input, outputs

    def count_params(self, config, base_count):
        width = config["params"]["vocabulary_size"] if config["params"]["use_lm_head"] else config["params"]["hidden_dim"]
        return base_count + width * self.units + self.units


@register_extension("test_freeze_embedding", paper=None)
class FreezeEmbedding(Extension):
    """Model transform that changes layers in place and cannot count itself (the builder builds)."""

    def apply_model(self, model):
        model.get_layer("token_embedding").trainable = False
        return model


@register_extension("test_bad_param", paper=None)
def bad_param(config):
    config["params"]["not_a_param"] = 1
    return config


def feed(batch=2, seq=5, vocab=32, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), bool)
    mask[0, -1] = False
    return {"token_ids": rng.integers(0, vocab, (batch, seq)).astype("int32"), "padding_mask": mask}


def as_numpy(x):
    if isinstance(x, dict):
        return {k: keras.ops.convert_to_numpy(v) for k, v in x.items()}
    return keras.ops.convert_to_numpy(x)


class ResolveTest(TestCase):
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory()
        self._env = os.environ.get(configs.ENV_CONFIG_PATH)
        os.environ[configs.ENV_CONFIG_PATH] = self._tmp.name

    def tearDown(self):
        if self._env is None:
            os.environ.pop(configs.ENV_CONFIG_PATH, None)
        else:
            os.environ[configs.ENV_CONFIG_PATH] = self._env
        self._tmp.cleanup()
        super().tearDown()

    def write(self, name, text):
        Path(self._tmp.name, f"{name}.yaml").write_text(textwrap.dedent(text))

    def test_resolution_order_yaml_base_extensions_user(self):
        self.write("order-parent", """\
            name: order-parent
            model: gpt
            reference: arXiv:0000.00000
            params: {vocabulary_size: 32, hidden_dim: 16, num_layers: 1, dropout: 0.0,
                     max_sequence_length: 16, attention: {num_heads: 2, attention_dropout: 0.5}}
            """)
        self.write("order-child", """\
            name: order-child
            base: order-parent
            params: {num_layers: 2, attention: {attention_dropout: 0.0}}
            extensions: [{name: test_set_params, num_layers: 4, dropout: 0.25}]
            """)
        config = builder.resolve("order-child", dropout=0.125)
        p = config["params"]
        self.assertEqual(p["hidden_dim"], 16)  # YAML (parent)
        self.assertEqual(p["attention"]["attention_dropout"], 0.0)  # child over parent, nested merge
        self.assertEqual(p["attention"]["num_heads"], 2)  # parent value kept in the nested dict
        self.assertEqual(p["num_layers"], 4)  # extension over YAML
        self.assertEqual(p["dropout"], 0.125)  # user over extension
        self.assertEqual(p["feedforward"]["type"], "mlp")  # family default
        self.assertEqual(config["extensions"], [{"name": "test_set_params", "num_layers": 4, "dropout": 0.25}])
        self.assertEqual(config["reference"], "arXiv:0000.00000")
        self.assertTrue(config["resolved"])
        self.assertNotIn("base", config)
        json.dumps(config)  # plain JSON

    def test_user_config_file_and_dict(self):
        self.write("my-gpt", """\
            name: my-gpt
            model: gpt
            params: {vocabulary_size: 32, hidden_dim: 16, num_layers: 1, attention: {num_heads: 2}}
            """)
        self.assertIn("my-gpt", dlzoo.list_models("my-*"))
        self.assertEqual(dlzoo.count_params("my-gpt"), dlzoo.count_params({"model": "gpt", "params": SMALL | {"max_sequence_length": 1024}}))
        path = Path(self._tmp.name, "my-gpt.yaml")
        self.assertEqual(builder.resolve(str(path))["name"], "my-gpt")

    def test_yaml_params_are_checked_too(self):
        self.write("typo-gpt", """\
            name: typo-gpt
            model: gpt
            params: {hidden_dims: 16}
            """)
        with self.assertRaisesNamed(ValueError, "'hidden_dims'", "'typo-gpt'", "Did you mean 'hidden_dim'"):
            builder.resolve("typo-gpt")
        self.write("no-model", "name: no-model\nparams: {}\n")
        with self.assertRaisesNamed(ValueError, "no `model`"):
            builder.resolve("no-model")
        self.write("bad-model", "name: bad-model\nmodel: gtp\n")
        with self.assertRaisesNamed(ValueError, "'gtp'", "Did you mean 'gpt'"):
            builder.resolve("bad-model")


class OverridesTest(TestCase):
    def test_three_ways_to_reach_nested_params(self):
        dotted = builder.resolve("llama-tiny", **{"attention.num_key_value_heads": 1})
        dunder = builder.resolve("llama-tiny", attention__num_key_value_heads=1)
        partial = builder.resolve("llama-tiny", attention={"num_key_value_heads": 1})
        for config in (dotted, dunder, partial):
            self.assertEqual(config["params"]["attention"]["num_key_value_heads"], 1)
            self.assertEqual(config["params"]["attention"]["num_heads"], 4)  # merged, not replaced
        self.assertEqual(dotted, dunder)
        self.assertEqual(dotted, partial)

    def test_unknown_model_and_params(self):
        with self.assertRaisesNamed(ValueError, "'llama-tinny'", "Did you mean 'llama-tiny'"):
            dlzoo.build("llama-tinny")
        with self.assertRaisesNamed(ValueError, "'num_layer'", "Did you mean 'num_layers'", "Valid parameters:", "hidden_dim"):
            dlzoo.build("gpt-tiny", num_layer=2)
        with self.assertRaisesNamed(ValueError, "'attention.num_kv_heads'", "attention.num_key_value_heads"):
            dlzoo.count_params("llama-tiny", **{"attention.num_kv_heads": 2})

    def test_wrong_types(self):
        with self.assertRaisesNamed(TypeError, "`num_layers`", "an integer", "num_layers='2'"):
            dlzoo.count_params("gpt-tiny", num_layers="2")
        with self.assertRaisesNamed(TypeError, "`tie_embeddings`", "True or False"):
            dlzoo.count_params("gpt-tiny", tie_embeddings=1)
        with self.assertRaisesNamed(TypeError, "`attention`", "a mapping"):
            dlzoo.count_params("gpt-tiny", attention=4)
        with self.assertRaisesNamed(TypeError, "attention.num_key_value_heads"):
            dlzoo.count_params("llama-tiny", attention__num_key_value_heads=2.0)

    def test_out_of_range_and_combinations_name_both(self):
        with self.assertRaisesNamed(ValueError, "`num_layers`", ">= 1", "num_layers=0"):
            dlzoo.count_params("gpt-tiny", num_layers=0)
        with self.assertRaisesNamed(ValueError, "`dropout`", "dropout=1.5"):
            dlzoo.count_params("gpt-tiny", dropout=1.5)
        with self.assertRaisesNamed(ValueError, "`attention.num_heads`", "`hidden_dim`", "hidden_dim=64"):
            dlzoo.count_params("gpt-tiny", attention__num_heads=5)
        with self.assertRaisesNamed(ValueError, "`attention.num_key_value_heads`", "`attention.num_heads`"):
            dlzoo.count_params("llama-tiny", attention__num_key_value_heads=3)
        with self.assertRaisesNamed(ValueError, "head size must be even", "attention.head_dim=7"):
            dlzoo.count_params("llama-tiny", attention__head_dim=7)
        with self.assertRaisesNamed(ValueError, "head size must be even", "head_dim=None", "query width=72"):
            dlzoo.count_params("llama-tiny", hidden_dim=72, attention__num_heads=8, attention__num_key_value_heads=4)
        with self.assertRaisesNamed(ValueError, "`feedforward.type`", "Did you mean 'swiglu'"):
            dlzoo.count_params("llama-tiny", feedforward__type="swigl")
        # Switching the type drops what only the old block took (the MLP's activation) ...
        self.assertNotIn("activation", builder.resolve("gpt-tiny", feedforward__type="swiglu")["params"]["feedforward"])
        # ... but setting it explicitly for a block that does not take it is an error.
        with self.assertRaisesNamed(ValueError, "'feedforward.activation'", "'swiglu'"):
            dlzoo.count_params("gpt-tiny", feedforward={"type": "swiglu", "activation": "relu"})
        with self.assertRaisesNamed(ValueError, "`norm_position`", "'middle'"):
            dlzoo.count_params("gpt-tiny", norm_position="middle")
        with self.assertRaisesNamed(ValueError, "'attention.use_qk_nrom'", "Did you mean 'use_qk_norm'"):
            dlzoo.count_params("gpt-tiny", attention__use_qk_nrom=True)
        with self.assertRaisesNamed(ValueError, "'attention.use_bias'", "renamed", "attention.use_qkv_bias"):
            dlzoo.count_params("gpt-tiny", attention__use_bias=False)

    def test_extension_conflicts_name_both(self):
        with self.assertRaisesNamed(ValueError, "'test_shallower'", "'test_deeper'", "conflicts"):
            builder.resolve("gpt-tiny", extensions=["test_deeper", "test_shallower"])
        with self.assertRaisesNamed(ValueError, "'test_deeper'", "twice"):
            builder.resolve("gpt-tiny", extensions=["test_deeper", "test_deeper"])
        with self.assertRaisesNamed(ValueError, "'test_deepr'", "Did you mean 'test_deeper'"):
            builder.resolve("gpt-tiny", extensions=["test_deepr"])
        with self.assertRaisesNamed(ValueError, "'extra'", "Did you mean 'extra_layers'"):
            builder.resolve("gpt-tiny", extensions=[{"name": "test_deeper", "extra": 2}])
        with self.assertRaisesNamed(ValueError, "'not_a_param'", "after extension 'test_bad_param'"):
            builder.resolve("gpt-tiny", extensions=["test_bad_param"])

    def test_validation_happens_before_any_weight_exists(self):
        created = []
        original = keras.layers.Layer.add_weight

        def spy(layer, *args, **kwargs):
            created.append(layer.name)
            return original(layer, *args, **kwargs)

        bad_calls = [
            dict(num_layer=2),
            dict(num_layers="2"),
            dict(attention__num_heads=5),
            dict(feedforward={"type": "swiglu", "activation": "relu"}),
            dict(feedforward__bogus=1),
            dict(dropout=1.5),
            dict(attention__num_key_value_heads=3),
            dict(norm__type="layer_nrom"),
            dict(extensions=["test_deeper", "test_shallower"]),
        ]
        with mock.patch.object(keras.layers.Layer, "add_weight", spy):
            for kwargs in bad_calls:
                with self.assertRaises((ValueError, TypeError), msg=str(kwargs)):
                    dlzoo.build("gpt-tiny", **kwargs)
            self.assertEqual(created, [])
            dlzoo.build("gpt-tiny", **SMALL)
            self.assertNotEqual(created, [])  # the spy works


class BuildTest(TestCase):
    def test_build_call_and_config_round_trip(self):
        model = dlzoo.build("gpt-tiny", **SMALL)
        self.assertIsInstance(model, ZooModel)
        self.assertIsInstance(model, keras.Model)
        self.assertEqual(model.zoo_name, "gpt-tiny")
        self.assertEqual(model.zoo_config["model"], "gpt")
        out = model(feed())
        self.assertEqual(tuple(out.shape), (2, 5, 32))
        config = model.get_config()
        self.assertEqual(json.loads(json.dumps(config)), config)
        self.assertEqual(config["params"]["hidden_dim"], 16)
        again = dlzoo.build(config)
        self.assertEqual(again.get_config(), config)
        self.assertEqual(again.count_params(), model.count_params())
        # Keras's own serialization goes through the same config.
        revived = keras.saving.deserialize_keras_object(
            json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        )
        self.assertIsInstance(revived, ZooModel)
        self.assertEqual(revived.get_config(), config)

    def test_build_by_assembler_name(self):
        model = dlzoo.build("gpt", **SMALL)
        self.assertEqual(model.zoo_name, "gpt")
        self.assertEqual(model.count_params(), dlzoo.count_params("gpt", **SMALL))

    def test_tied_and_untied_heads(self):
        tied = dlzoo.build("gpt-tiny", **SMALL)
        untied = dlzoo.build("gpt-tiny", tie_embeddings=False, **SMALL)
        backbone = dlzoo.build("gpt-tiny", use_lm_head=False, **SMALL)
        self.assertEqual(untied.count_params() - tied.count_params(), 32 * 16)
        self.assertEqual(backbone.count_params(), tied.count_params())
        self.assertEqual(tuple(backbone(feed()).shape), (2, 5, 16))
        # Tied: the logits are the hidden states times the embedding table.
        hidden = keras.Model(tied.input, tied.get_layer("decoder").output)(feed())
        table = tied.get_layer("token_embedding").embeddings
        self.assertAllClose(tied(feed()), keras.ops.matmul(hidden, keras.ops.transpose(table)), atol=1e-5)

    def test_save_load_keras_and_preset(self):
        model = dlzoo.build("llama-tiny", vocabulary_size=32, hidden_dim=16, num_layers=1, attention={"num_heads": 2, "num_key_value_heads": 1})
        x = feed()
        expected = as_numpy(model(x))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.keras")
            model.save(path)
            loaded = dlzoo.load(path)
            self.assertIsInstance(loaded, ZooModel)
            self.assertEqual(loaded.get_config(), model.get_config())
            self.assertAllClose(loaded(x), expected, atol=0)

            preset = os.path.join(tmp, "preset")
            model.save_to_preset(preset)
            self.assertEqual(sorted(os.listdir(preset)), ["config.json", "metadata.json", "model.weights.h5"])
            self.assertAllClose(dlzoo.build(preset)(x), expected, atol=0)
            self.assertAllClose(dlzoo.load(preset)(x), expected, atol=0)
            with self.assertRaisesNamed(ValueError, "do not fit"):
                dlzoo.build(preset, hidden_dim=32, attention__num_heads=2)
        with self.assertRaises(FileNotFoundError):
            dlzoo.load("/nonexistent/model.keras")


class ExtensionMechanismTest(TestCase):
    def test_config_transform_is_not_reapplied_to_a_resolved_config(self):
        model = dlzoo.build("gpt-tiny", extensions=["test_deeper"], **NARROW)
        self.assertEqual(model.zoo_config["params"]["num_layers"], 3)
        self.assertEqual(model.zoo_config["extensions"], ["test_deeper"])
        rebuilt = dlzoo.build(model.get_config())
        self.assertEqual(rebuilt.zoo_config["params"]["num_layers"], 3)
        self.assertEqual(rebuilt.count_params(), model.count_params())
        # User params still win over the extension.
        self.assertEqual(builder.resolve("gpt-tiny", extensions=["test_deeper"], num_layers=1)["params"]["num_layers"], 1)
        # New extensions on top of a resolved config do apply.
        more = builder.resolve(model.get_config(), extensions=[{"name": "test_set_params", "num_layers": 5}])
        self.assertEqual(more["params"]["num_layers"], 5)
        self.assertEqual(more["extensions"], ["test_deeper", {"name": "test_set_params", "num_layers": 5}])
        # A function extension.
        self.assertEqual(builder.resolve("gpt-tiny", extensions=[{"name": "test_shallower", "by": 1}])["params"]["num_layers"], 1)

    def test_model_transform_counts_saves_and_loads(self):
        model = dlzoo.build("gpt-tiny", extensions=[{"name": "test_head", "units": 3}], **SMALL)
        self.assertEqual(tuple(model(feed()).shape), (2, 5, 3))
        self.assertEqual(dlzoo.count_params(model.get_config()), model.count_params())
        self.assertEqual(dlzoo.count_params("gpt-tiny", extensions=[{"name": "test_head", "units": 3}], **SMALL), model.count_params())
        frozen = dlzoo.build("gpt-tiny", extensions=["test_freeze_embedding"], **SMALL)
        self.assertFalse(frozen.get_layer("token_embedding").trainable)
        self.assertEqual(dlzoo.count_params("gpt-tiny", extensions=["test_freeze_embedding"], **SMALL), frozen.count_params())
        x = feed()
        with tempfile.TemporaryDirectory() as tmp:
            model.save(os.path.join(tmp, "m.keras"))
            loaded = dlzoo.load(os.path.join(tmp, "m.keras"))
            self.assertAllClose(loaded(x), model(x), atol=0)
            frozen.save(os.path.join(tmp, "f.keras"))
            self.assertFalse(dlzoo.load(os.path.join(tmp, "f.keras")).get_layer("token_embedding").trainable)

    def test_apply_extension_to_a_built_model(self):
        model = dlzoo.build("gpt-tiny", **NARROW)
        x = feed()
        headed = dlzoo.apply_extension(model, "test_head", units=4)
        self.assertIsInstance(headed, ZooModel)
        self.assertEqual(headed.zoo_config["extensions"], [{"name": "test_head", "units": 4}])
        self.assertIs(headed.get_layer("token_embedding"), model.get_layer("token_embedding"))  # shared
        self.assertEqual(tuple(headed(x).shape), (2, 5, 4))
        self.assertIsNone(headed.extension_report)
        # A config transform rebuilds and keeps every weight that still fits.
        deeper = dlzoo.apply_extension(model, "test_deeper")
        self.assertEqual(deeper.zoo_config["params"]["num_layers"], 3)
        report = deeper.extension_report
        self.assertTrue(any(p.startswith("decoder/transformer_layer_1/") for p in report["kept"]))
        self.assertTrue(report["reinitialized"])
        self.assertTrue(all(p.startswith("decoder/transformer_layer_2/") for p in report["reinitialized"]))
        self.assertAllClose(
            deeper.get_layer("token_embedding").embeddings, model.get_layer("token_embedding").embeddings, atol=0
        )
        with self.assertRaisesNamed(ValueError, "'test_shallower'", "'test_deeper'"):
            dlzoo.apply_extension(deeper, "test_shallower")
        self.assertIn("test_deeper", dlzoo.list_extensions())
        self.assertEqual(dlzoo.list_extensions("test_d*"), ["test_deeper"])


class DescribeCountMemoryDiffTest(TestCase):
    def test_list_models(self):
        self.assertEqual(dlzoo.list_models("llama-*"), ["llama-2-7b", "llama-3-8b", "llama-tiny"])
        self.assertEqual(dlzoo.list_models("tiny"), [n for n in dlzoo.list_models() if "tiny" in n])
        self.assertEqual(dlzoo.list_models("no-such-thing"), [])

    def test_describe(self):
        info = dlzoo.describe("llama-tiny", num_layers=3)
        self.assertEqual(info["name"], "llama-tiny")
        self.assertEqual(info["model"], "llama")
        self.assertEqual(info["params"]["num_layers"], 3)
        self.assertEqual(info["param_count"], dlzoo.count_params("llama-tiny", num_layers=3))
        blocks = {b["name"]: b["paper"] for b in info["blocks"]}
        self.assertEqual(blocks["grouped_query_attention"], "arXiv:2305.13245")
        self.assertEqual(blocks["rms_norm"], "arXiv:1910.07467")
        for name in ("rotary_embedding", "swiglu", "transformer_layer", "token_embedding"):
            self.assertIn(name, blocks)
            self.assertTrue(blocks[name])
        self.assertEqual(info["memory"]["parameters"], info["param_count"])
        gpt_blocks = [b["name"] for b in dlzoo.describe("gpt-tiny")["blocks"]]
        self.assertIn("learned_position_embedding", gpt_blocks)
        self.assertIn("layer_norm", gpt_blocks)
        self.assertNotIn("rotary_embedding", gpt_blocks)

    def test_estimate_memory_formula(self):
        p = dlzoo.count_params("gpt-base")
        mem = dlzoo.estimate_memory("gpt-base", batch_size=2, sequence_length=128)
        b = mem["bytes"]
        self.assertEqual(mem["parameters"], p)
        self.assertEqual(b["weights"], 4 * p)
        self.assertEqual(b["gradients"], 4 * p)
        self.assertEqual(b["optimizer_state"], 8 * p)  # AdamW: two float32 slots
        s, bsz, h, a, L, V = 128, 2, 768, 12, 12, 50257
        # Each block's own figure: the token and position embeddings keep their outputs (2 s b h), each
        # layer 17 s b h + 2.5 a s^2 b (Korthikanti et al.), the tied head its logits (s b V); add/dropout none.
        elements = L * (17 * s * bsz * h + 2.5 * a * s * s * bsz) + 2 * s * bsz * h + s * bsz * V
        self.assertEqual(b["activations"], int(elements) * 4)
        self.assertEqual(b["total"], b["weights"] + b["gradients"] + b["optimizer_state"] + b["activations"])
        mixed = dlzoo.estimate_memory("gpt-base", dtype="mixed_bfloat16", optimizer="sgd", batch_size=2, sequence_length=128)
        self.assertEqual(mixed["bytes"]["weights"], 4 * p)
        self.assertEqual(mixed["bytes"]["optimizer_state"], 0)
        self.assertEqual(mixed["bytes"]["activations"], int(elements) * 2)
        inference = dlzoo.estimate_memory("gpt-base", dtype="bfloat16", optimizer=None)
        self.assertEqual(inference["bytes"]["gradients"], 0)
        self.assertEqual(inference["bytes"]["weights"], 2 * p)
        self.assertEqual(inference["sequence_length"], 1024)  # the model's maximum
        with self.assertRaisesNamed(ValueError, "`dtype`", "'float8'"):
            dlzoo.estimate_memory("gpt-base", dtype="float8")
        with self.assertRaisesNamed(ValueError, "`optimizer`", "Did you mean", "optimizer='adamx'"):
            dlzoo.estimate_memory("gpt-base", optimizer="adamx")
        with self.assertRaisesNamed(ValueError, "`batch_size`"):
            dlzoo.estimate_memory("gpt-base", batch_size=0)
        # Llama 2 7B with AdamW in float32: 16 bytes per parameter before activations.
        seven = dlzoo.estimate_memory("llama-2-7b")
        self.assertEqual(seven["bytes"]["weights"] + seven["bytes"]["gradients"] + seven["bytes"]["optimizer_state"], 16 * 6738415616)

    def test_diff(self):
        same = dlzoo.diff("gpt-tiny", "gpt-tiny")
        self.assertEqual(same["params"], {})
        self.assertIsNone(same["model"])
        self.assertEqual(same["param_count"]["delta"], 0)
        d = dlzoo.diff("gpt-tiny", "llama-tiny")
        self.assertEqual(d["model"], ["gpt", "llama"])
        self.assertEqual(d["params"]["norm.type"], ["layer_norm", "rms_norm"])
        self.assertEqual(d["params"]["feedforward.type"], ["mlp", "swiglu"])
        self.assertEqual(d["params"]["attention.rope_layout"], ["<absent>", "rotate_half"])
        self.assertIn("learned_position_embedding", d["blocks"]["only_in_a"])
        self.assertIn("rotary_embedding", d["blocks"]["only_in_b"])
        self.assertEqual(d["param_count"]["delta"], dlzoo.count_params("llama-tiny") - dlzoo.count_params("gpt-tiny"))
        sizes = dlzoo.diff("gpt-base", "gpt-medium")
        self.assertEqual(sizes["params"]["hidden_dim"], [768, 1024])
        self.assertEqual(sizes["param_count"], {"a": 124439808, "b": 354823168, "delta": 354823168 - 124439808})
        ext = dlzoo.diff(builder.resolve("gpt-tiny"), builder.resolve("gpt-tiny", extensions=["test_deeper"]))
        self.assertEqual(ext["extensions"], {"only_in_a": [], "only_in_b": ["test_deeper"]})
        self.assertEqual(ext["params"], {"num_layers": [2, 3]})


LOAD_ELSEWHERE = """
import sys, keras, numpy as np, dlzoo
model = dlzoo.load(sys.argv[1])
x = dict(np.load(sys.argv[2]))
np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x)))
print(type(model).__name__, model.zoo_name)
"""


@pytest.mark.slow
def test_keras_file_loads_on_another_backend():
    """A `.keras` file saved here loads with `dlzoo.load` under a different backend, same outputs."""
    keras.utils.set_random_seed(0)
    model = dlzoo.build("llama-tiny", num_layers=1)
    x = feed(vocab=512)
    expected = keras.ops.convert_to_numpy(model(x))
    other = {"jax": "torch", "torch": "tensorflow", "tensorflow": "jax"}[keras.backend.backend()]
    with tempfile.TemporaryDirectory() as tmp:
        path, data, out = (os.path.join(tmp, n) for n in ("m.keras", "x.npz", "y.npy"))
        model.save(path)
        np.savez(data, **x)
        env = dict(os.environ, KERAS_BACKEND=other)
        run = subprocess.run([sys.executable, "-c", LOAD_ELSEWHERE, path, data, out],
                             capture_output=True, text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split()[-2:] == ["ZooModel", "llama-tiny"]
        np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
