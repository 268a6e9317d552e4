"""Export signatures: names, dtypes, dynamic axes (defaults, probing for tied axes, user overrides)."""

import keras
import numpy as np

from dlzoo.export import examples
from dlzoo.export.signature import Signature, make_inputs, signature_from_model, verification_sizes
from dlzoo.testing import TestCase


def _masked_tokens_model():
    """token_ids (b, s) and padding_mask (b, s): the mask multiplies the embeddings, so lengths must agree."""
    tokens = keras.Input((None,), dtype="int32", name="token_ids")
    mask = keras.Input((None,), dtype="bool", name="padding_mask")
    h = keras.layers.Embedding(8, 4)(tokens)
    h = h * keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)
    return keras.Model({"token_ids": tokens, "padding_mask": mask}, keras.layers.Dense(2, name="out")(h))


class SignatureTest(TestCase):
    def test_single_input_defaults(self):
        sig = signature_from_model(examples.transformer())
        self.assertEqual(sig.input_names, ["tokens"])
        self.assertEqual(sig.output_names, ["hidden"])
        (info,) = sig.inputs
        self.assertEqual(info.shape, [None, None, 16])
        self.assertEqual(info.dtype, "float32")
        self.assertEqual(info.dim_names, {0: "batch", 1: "tokens_1"})
        self.assertEqual(sig.input_structure, "single")
        self.assertEqual(info.poly_shape(), "(batch, tokens_1, 16)")

    def test_named_inputs_keep_independent_lengths(self):
        sig = signature_from_model(examples.two_input())
        self.assertEqual(sig.input_structure, "dict")
        self.assertEqual(sorted(sig.input_names), ["context", "latents", "timestep"])
        dims = {t.name: t.dim_names for t in sig.inputs}
        self.assertEqual(dims["latents"], {0: "batch", 1: "latents_1"})
        self.assertEqual(dims["context"], {0: "batch", 1: "context_1"})
        self.assertEqual(dims["timestep"], {0: "batch"})

    def test_tied_lengths_are_found_by_probing(self):
        sig = signature_from_model(_masked_tokens_model())
        dims = {t.name: t.dim_names for t in sig.inputs}
        self.assertEqual(dims["token_ids"][1], "sequence")
        self.assertEqual(dims["padding_mask"][1], "sequence")
        self.assertEqual({t.name: t.dtype for t in sig.inputs}, {"token_ids": "int32", "padding_mask": "bool"})

    def test_user_axes_names_and_pins(self):
        sig = signature_from_model(examples.transformer(), dynamic_axes={"tokens": {0: "batch", 1: 7}})
        self.assertEqual(sig.inputs[0].shape, [None, 7, 16])
        self.assertEqual(sig.inputs[0].dim_names, {0: "batch"})
        sig = signature_from_model(examples.transformer(), dynamic_axes={"tokens": {1: "seq"}})
        self.assertEqual(sig.inputs[0].dim_names, {0: "batch", 1: "seq"})
        sig = signature_from_model(examples.transformer(), dynamic_axes={"tokens": [0, 1]})
        self.assertEqual(sig.inputs[0].dim_names, {0: "batch", 1: "tokens_1"})

    def test_bad_dynamic_axes_raise_naming_the_problem(self):
        model = examples.transformer()
        with self.assertRaisesNamed(ValueError, "unknown inputs", "nope"):
            signature_from_model(model, dynamic_axes={"nope": [0]})
        with self.assertRaisesNamed(ValueError, "axis 5", "rank 3"):
            signature_from_model(model, dynamic_axes={"tokens": [5]})
        with self.assertRaisesNamed(ValueError, "axis 1 is dynamic", "not listed"):
            signature_from_model(model, dynamic_axes={"tokens": [0]})
        with self.assertRaisesNamed(ValueError, "static size 16"):
            signature_from_model(model, dynamic_axes={"tokens": {1: "seq", 2: 8}})
        with self.assertRaisesNamed(ValueError, "batch axis"):
            signature_from_model(model, dynamic_axes={"tokens": {0: 4, 1: "seq"}})
        with self.assertRaisesNamed(TypeError, "dynamic_axes['tokens']"):
            signature_from_model(model, dynamic_axes={"tokens": "seq"})

    def test_json_round_trip_and_packing(self):
        sig = signature_from_model(examples.two_input())
        again = Signature.from_json(sig.to_json())
        self.assertEqual(again.to_json(), sig.to_json())
        packed = again.pack_inputs([1, 2, 3])
        self.assertEqual(packed, dict(zip(sig.input_names, [1, 2, 3])))

    def test_verification_sizes_and_inputs(self):
        sig = signature_from_model(examples.two_input())
        cases = verification_sizes(sig)
        self.assertEqual([c["batch"] for c in cases], [1, 3, 2])
        self.assertEqual([c["latents_1"] for c in cases], [6, 1, 9])
        self.assertEqual([c["context_1"] for c in cases], [7, 1, 10])  # independent axes differ
        capped = verification_sizes(sig, max_size=4)
        self.assertTrue(all(v <= 4 for c in capped for k, v in c.items() if k != "batch"))
        data = make_inputs(sig, cases[0])
        self.assertEqual(data["latents"].shape, (1, 6, 8))
        self.assertEqual(data["context"].shape, (1, 7, 8))
        self.assertEqual(data["timestep"].dtype, np.float32)
        mask_sig = signature_from_model(_masked_tokens_model())
        data = make_inputs(mask_sig, {"batch": 2, "sequence": 5})
        self.assertTrue(data["padding_mask"][:, 0].all())
        self.assertTrue(set(np.unique(data["token_ids"])) <= {0, 1})
        # One row on the batch axis: ints are 0, so an index into that axis (a graph's edge list) stays in range.
        self.assertEqual(set(np.unique(make_inputs(mask_sig, {"batch": 1, "sequence": 5})["token_ids"])), {0})
