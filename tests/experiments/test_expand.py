"""Expansion of composition files into runs: grid rules, random search, run names."""

import unittest

from dlzoo.experiments import expand as E


def _ctx(list_paths=(), spec_paths=(), list_options=()):
    return E.Context(
        list_typed=lambda path, parent=None: tuple(path) in set(list_paths),
        spec_kind=lambda path: "optimizer" if tuple(path) in set(spec_paths) else None,
        option_is_list=lambda kind, names, option: option in set(list_options),
    )


def _values(combos):
    return [c for c, _ in combos]


class GridTest(unittest.TestCase):
    def test_scalar_lists_are_dimensions_and_multiply(self):
        node = {"a": [1, 2], "b": {"c": ["x", "y", "z"]}, "d": 5}
        combos = E.expand_node(node, (), _ctx())
        self.assertEqual(len(combos), 6)
        self.assertEqual(_values(combos)[0], {"a": 1, "b": {"c": "x"}, "d": 5})
        self.assertEqual(_values(combos)[-1], {"a": 2, "b": {"c": "z"}, "d": 5})
        paths = [[E.path_str(p) for p, _ in choices] for _, choices in combos]
        self.assertEqual(paths[0], ["a", "b.c"])

    def test_list_typed_value_is_kept_and_list_of_lists_is_a_dimension(self):
        ctx = _ctx(list_paths=[("dims",)])
        self.assertEqual(_values(E.expand_node({"dims": [32, 64]}, (), ctx)), [{"dims": [32, 64]}])
        combos = E.expand_node({"dims": [[32], [64, 64]]}, (), ctx)
        self.assertEqual(_values(combos), [{"dims": [32]}, {"dims": [64, 64]}])

    def test_elements_of_list_typed_values_expand(self):
        ctx = _ctx(list_paths=[("losses",)])
        node = {"losses": [{"name": "mse", "weight": [0.5, 1.0]}, {"name": "mae"}]}
        combos = E.expand_node(node, (), ctx)
        self.assertEqual([c["losses"][0]["weight"] for c in _values(combos)], [0.5, 1.0])
        self.assertEqual(E.path_str(combos[0][1][0][0]), "losses[0].weight")

    def test_grid_marker_works_everywhere(self):
        ctx = _ctx(list_paths=[("dims",)])
        combos = E.expand_node({"dims": {"grid": [[1], [2, 3]]}, "lr": {"grid": [0.1]}}, (), ctx)
        self.assertEqual(_values(combos), [{"dims": [1], "lr": 0.1}, {"dims": [2, 3], "lr": 0.1}])

    def test_component_options_use_their_signature(self):
        ctx = _ctx(spec_paths=[("optimizer",)], list_options=["betas"])
        combos = E.expand_node({"optimizer": {"name": "x", "betas": [0.9, 0.99], "lr": [1, 2]}}, (), ctx)
        self.assertEqual(_values(combos), [
            {"optimizer": {"name": "x", "betas": [0.9, 0.99], "lr": 1}},
            {"optimizer": {"name": "x", "betas": [0.9, 0.99], "lr": 2}},
        ])

    def test_alternatives(self):
        self.assertEqual(E.alternatives([1, {"grid": [2, 3]}]), [1, 2, 3])
        self.assertEqual(E.alternatives([1, 2], list_typed=True), [[1, 2]])
        self.assertEqual(E.alternatives("a"), ["a"])


class RandomSearchTest(unittest.TestCase):
    def test_samples_without_replacement_and_is_seeded(self):
        combos = E.expand_node({"a": list(range(10))}, (), _ctx())
        first = E.random_search(combos, 4, seed=3)
        again = E.random_search(combos, 4, seed=3)
        other = E.random_search(combos, 4, seed=4)
        self.assertEqual(_values(first), _values(again))
        self.assertNotEqual(_values(first), _values(other))
        self.assertEqual(len({c["a"] for c in _values(first)}), 4)
        self.assertEqual(len(E.random_search(combos, 50, seed=0)), 10)

    def test_distributions_are_sampled_within_bounds(self):
        combos = E.expand_node({"lr": {"loguniform": [1e-4, 1e-2]}, "n": {"randint": [2, 4]}, "u": {"uniform": [0, 1]}}, (), _ctx())
        samples = E.random_search(combos, 30, seed=0)
        self.assertEqual(len(samples), 30)
        for config, choices in samples:
            self.assertTrue(1e-4 <= config["lr"] <= 1e-2)
            self.assertIn(config["n"], (2, 3, 4))
            self.assertTrue(0 <= config["u"] <= 1)
            self.assertEqual(sorted(E.path_str(p) for p, _ in choices), ["lr", "n", "u"])
        self.assertEqual(len({c["n"] for c, _ in samples}), 3)


class NamesTest(unittest.TestCase):
    def test_hash_ignores_presentation_keys_only(self):
        a = {"name": "x", "seed": 1, "output_dir": "a"}
        b = {"name": "y", "seed": 1, "output_dir": "b", "description": "d"}
        self.assertEqual(E.run_hash(a), E.run_hash(b))
        self.assertNotEqual(E.run_hash(a), E.run_hash({"name": "x", "seed": 2}))

    def test_run_name_is_readable_and_predictable(self):
        choices = [(("model", "name"), "image-mlp-tiny"), (("optimizer", "learning_rate"), 0.001), (("backend",), "jax")]
        name = E.run_name(choices, "0123456789abcdef")
        self.assertEqual(name, "model=image-mlp-tiny_learning_rate=0.001_backend=jax-01234567")
        self.assertEqual(E.run_name([], "abcdef0123"), "run-abcdef01")
        self.assertEqual(E.run_name([(("a",), "x y/z")], "ff" * 8), "a=x-y-z-ffffffff")

    def test_varying_choices_drop_constant_dimensions(self):
        runs = [[(("a",), 1), (("b",), "x")], [(("a",), 2), (("b",), "x")]]
        self.assertEqual(E.varying_choices(runs), [[(("a",), 1)], [(("a",), 2)]])
