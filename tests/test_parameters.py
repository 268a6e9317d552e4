"""Family parameters: type and name checks, sections routed to one block, the type switch, error wording."""

import unittest

from dlzoo import parameters
from dlzoo.parameters import Section, check_params, chosen_by_type, merge_params, routed_to

SCHEMA = {
    "hidden_dim": 64,
    "dropout": 0.1,
    "use_bias": True,
    "name_of_norm": "layer_norm",
    "head_dim": None,
    "sizes": [1, 2],
    "attention": {"num_heads": 4, "num_key_value_heads": None, "options": {}},
}


FAMILY = {
    "hidden_dim": 8,
    "attention": routed_to("grouped_query_attention", reserved=("seed",), num_heads=2),
    "feedforward": chosen_by_type("feedforward", type="mlp", intermediate_dim=16, activation="relu"),
}


class CheckParamsTest(unittest.TestCase):
    def test_accepts_and_normalizes(self):
        checked = parameters.check_params(
            {"hidden_dim": 8, "dropout": 0, "head_dim": "anything", "sizes": (3,), "attention": {"num_heads": 2}},
            SCHEMA,
        )
        self.assertEqual(checked["dropout"], 0.0)
        self.assertIsInstance(checked["dropout"], float)
        self.assertEqual(checked["sizes"], [3])
        self.assertEqual(checked["attention"], {"num_heads": 2})
        free = parameters.check_params({"attention": {"options": {"anything": [1]}}}, SCHEMA)
        self.assertEqual(free["attention"]["options"], {"anything": [1]})

    def test_nullable(self):
        checked = parameters.check_params({"name_of_norm": None}, SCHEMA, nullable=("name_of_norm",))
        self.assertIsNone(checked["name_of_norm"])
        with self.assertRaisesRegex(TypeError, "must be a string or None"):
            parameters.check_params({"name_of_norm": 3}, SCHEMA, nullable=("name_of_norm",))
        with self.assertRaisesRegex(TypeError, "must be a string. "):
            parameters.check_params({"name_of_norm": None}, SCHEMA)

    def test_unknown_names_list_valid_ones_and_closest(self):
        with self.assertRaises(ValueError) as cm:
            parameters.check_params({"hiden_dim": 8}, SCHEMA, model="model 'm'")
        message = str(cm.exception)
        for fragment in ("'hiden_dim'", "model 'm'", "Did you mean 'hidden_dim'", "Valid parameters:", "dropout"):
            self.assertIn(fragment, message)
        with self.assertRaises(ValueError) as cm:
            parameters.check_params({"attention": {"num_head": 8}}, SCHEMA)
        self.assertIn("'attention.num_head'", str(cm.exception))
        self.assertIn("Did you mean 'attention.num_heads'", str(cm.exception))

    def test_wrong_types_name_param_value_and_allowed(self):
        cases = [
            ({"hidden_dim": 8.0}, "`hidden_dim`", "an integer"),
            ({"hidden_dim": True}, "`hidden_dim`", "an integer"),
            ({"hidden_dim": "8"}, "`hidden_dim`", "an integer"),
            ({"dropout": "0.1"}, "`dropout`", "a number"),
            ({"dropout": False}, "`dropout`", "a number"),
            ({"use_bias": 1}, "`use_bias`", "True or False"),
            ({"name_of_norm": 3}, "`name_of_norm`", "a string"),
            ({"sizes": 3}, "`sizes`", "a list"),
            ({"attention": 3}, "`attention`", "a mapping"),
            ({"attention": {"num_heads": "4"}}, "`attention.num_heads`", "an integer"),
            ({"attention": {"options": 1}}, "`attention.options`", "a mapping"),
        ]
        for params, name, allowed in cases:
            with self.assertRaises(TypeError, msg=str(params)) as cm:
                parameters.check_params(params, SCHEMA)
            message = str(cm.exception)
            self.assertIn(name, message)
            self.assertIn(allowed, message)
            self.assertIn("Received:", message)


class SectionTest(unittest.TestCase):
    def test_keys_are_the_blocks_arguments(self):
        checked = check_params({"attention": {"num_heads": 4, "use_qkv_bias": True}}, FAMILY)
        self.assertEqual(checked["attention"], {"num_heads": 4, "use_qkv_bias": True})
        with self.assertRaises(ValueError) as cm:
            check_params({"attention": {"num_heads": 4, "use_qkv_bais": True}}, FAMILY, model="model 'm'")
        for fragment in ("'attention.use_qkv_bais'", "'grouped_query_attention'", "Did you mean 'use_qkv_bias'", "model 'm'"):
            self.assertIn(fragment, str(cm.exception))
        with self.assertRaisesRegex(ValueError, "'attention.seed'.*set by the model"):
            check_params({"attention": {"num_heads": 4, "seed": 1}}, FAMILY)

    def test_the_block_checks_values_in_the_sections_names(self):
        with self.assertRaises(ValueError) as cm:
            check_params({"attention": {"num_heads": 4, "num_key_value_heads": 3}}, FAMILY)
        message = str(cm.exception)
        self.assertIn("`attention.num_key_value_heads` must divide `attention.num_heads`", message)
        self.assertIn("attention.num_key_value_heads=3", message)
        with self.assertRaisesRegex(TypeError, "`attention.num_heads`.*Received: attention.num_heads='4'"):
            check_params({"attention": {"num_heads": "4"}}, FAMILY)
        with self.assertRaisesRegex(ValueError, "`feedforward.activation`.*Did you mean 'relu'.*Received: feedforward.activation='rleu'"):
            check_params({"feedforward": {"type": "mlp", "intermediate_dim": 4, "activation": "rleu"}}, FAMILY)

    def test_type_picks_the_block_and_a_new_type_drops_what_it_does_not_take(self):
        defaults = parameters.defaults_of(FAMILY)
        merged = merge_params(FAMILY, defaults, {"feedforward": {"type": "swiglu"}})
        self.assertEqual(merged["feedforward"], {"type": "swiglu", "intermediate_dim": 16})
        check_params(merged, FAMILY)
        with self.assertRaisesRegex(ValueError, "'feedforward.activation'.*'swiglu'"):
            check_params(merge_params(FAMILY, defaults, {"feedforward": {"type": "swiglu", "activation": "relu"}}), FAMILY)
        with self.assertRaisesRegex(ValueError, "`feedforward.type`.*'layer_norm' is a normalization block"):
            check_params(merge_params(FAMILY, defaults, {"feedforward": {"type": "layer_norm"}}), FAMILY)

    def test_renamed_parameters_say_what_replaced_them(self):
        with self.assertRaisesRegex(ValueError, "'attention.use_bias'.*renamed.*attention.use_qkv_bias"):
            check_params({"attention": {"num_heads": 2, "use_bias": True}}, FAMILY)

    def test_section_defaults_are_immutable_and_need_a_type_when_chosen_by_role(self):
        self.assertIsInstance(FAMILY["attention"], Section)
        with self.assertRaises(Exception):
            FAMILY["attention"].block = "x"
        with self.assertRaisesRegex(ValueError, "needs a default `type`"):
            chosen_by_type("feedforward", intermediate_dim=4)


if __name__ == "__main__":
    unittest.main()
