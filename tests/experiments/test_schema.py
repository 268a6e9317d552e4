"""The composition file: defaults, overrides, validation listing every problem, plugins, variants."""

import os
import sys
import tempfile
import textwrap
import unittest

import yaml

from dlzoo.experiments import ExperimentError, load_experiment
from dlzoo.experiments.schema import resolve_defaults

from tests.experiments._helpers import tiny_arrays, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "guides", "examples")


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = cls._tmp.name
        cls.data = tiny_arrays(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def write(self, config, name="exp.yaml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        return path

    def test_defaults_and_resolution(self):
        experiment = load_experiment(tiny_config(self.data))
        self.assertEqual(len(experiment.runs), 1)
        config = experiment.runs[0].config
        self.assertEqual(config["training"]["epochs"], 2)
        self.assertEqual(config["training"]["monitor"], "val_loss")
        self.assertEqual(config["data"]["split"]["seed"], 0)
        self.assertIn(config["backend"], ("jax", "torch", "tensorflow"))
        self.assertEqual(experiment.output_dir, os.path.join("runs", "tiny"))
        # A resolved config is a fixed point: loading it again gives the same run.
        again = load_experiment(config)
        self.assertEqual(again.runs[0].digest, experiment.runs[0].digest)
        self.assertEqual(again.runs[0].run_id, experiment.runs[0].run_id)
        self.assertEqual(resolve_defaults({"optimizer": "sgd"})["optimizer"], "sgd")

    def test_grid_over_models_learning_rates_and_backends(self):
        config = tiny_config(self.data, **{"optimizer.learning_rate": [0.1, 0.01], "backend": ["jax", "torch"],
                                           "model.params.hidden_dims": [[8], [16]],
                                           "model.name": ["image-mlp-tiny", "image-convnext-tiny"],
                                           "model.params.patch_size": 1})
        experiment = load_experiment(config)
        self.assertEqual(len(experiment.runs), 16)
        self.assertEqual(experiment.dimensions, ["backend", "model.name", "model.params.hidden_dims", "optimizer.learning_rate"])
        self.assertEqual(len({r.run_id for r in experiment.runs}), 16)
        self.assertEqual(experiment.runs[0].config["model"]["params"]["hidden_dims"], [8])
        self.assertEqual(experiment.select(["3"])[0].index, 3)
        self.assertEqual(experiment.select([experiment.runs[5].run_id])[0].index, 5)
        self.assertEqual(experiment.select([experiment.runs[2].digest[:10]])[0].index, 2)
        with self.assertRaisesRegex(ValueError, "No run named"):
            experiment.select(["nope"])

    def test_a_combination_the_builder_rejects_is_refused(self):
        # Each value is fine alone; two of the four combinations have one width for two stages.
        config = tiny_config(self.data, **{"model.params.hidden_dims": [[8], [4, 8]], "model.params.depths": [[1], [1, 1]]})
        with self.assertRaises(ExperimentError) as ctx:
            load_experiment(config)
        self.assertEqual(len(ctx.exception.problems), 2)
        self.assertIn("same length", str(ctx.exception))

    def test_overrides_and_random_search(self):
        path = self.write(tiny_config(self.data))
        experiment = load_experiment(path, overrides=["training.epochs=5", "optimizer.learning_rate=[0.1,0.2,0.3]",
                                                     "search={type: random, samples: 2, seed: 1}"])
        self.assertEqual(len(experiment.runs), 2)
        self.assertEqual(experiment.runs[0].config["training"]["epochs"], 5)
        self.assertEqual(experiment.name, "tiny")

    def test_every_problem_is_listed_before_anything_runs(self):
        config = tiny_config(self.data)
        config.update({"seeed": 1, "optimizer": {"name": "adamx", "learning_rate": [0.1, 0.2]}})
        config["data"]["dataset"] = {"name": "arrays", "path": self.data, "xx": "x"}
        config["data"]["split"]["test"] = 2.0
        config["model"]["params"]["num_clases"] = 3
        config["losses"] = [{"name": "mse", "weight": -1.0}, {"name": "no_such_loss"}]
        config["metrics"] = ["accuracy", {"name": "f2_score"}]
        config["training"]["epochs"] = 0
        config["backend"] = ["jax", "theano"]
        with self.assertRaises(ExperimentError) as ctx:
            load_experiment(self.write(config, "bad.yaml"))
        problems = ctx.exception.problems
        keys = [p.key for p in problems]
        for key in ("seeed", "optimizer.name", "data.dataset.name", "data.split.test", "model",
                    "losses[0].weight", "losses[1].name", "metrics[1].name", "training.epochs", "backend"):
            self.assertIn(key, keys, msg=str(ctx.exception))
        text = str(ctx.exception)
        self.assertIn("bad.yaml", text)
        self.assertIn("Did you mean 'seed'", text)
        self.assertIn("Did you mean 'num_classes'", text)
        self.assertIn("Did you mean 'adamax'", text)
        # One line per problem, each naming file, key and value; no duplicate for the two learning rates.
        self.assertEqual(text.count("optimizer.name"), 1)
        self.assertEqual(len(text.splitlines()), len(problems) + 1)

    def test_builder_rejections_are_problems(self):
        config = tiny_config(self.data, **{"model.params.image_shape": [5, 5, 1], "model.params.backbone": "convnext"})
        with self.assertRaises(ExperimentError) as ctx:
            load_experiment(config)
        self.assertIn("multiples of patch_size", str(ctx.exception))

    def test_markers_and_sections(self):
        config = tiny_config(self.data, **{"optimizer.learning_rate": {"loguniform": [1e-3, 1e-1]}})
        with self.assertRaisesRegex(ExperimentError, "needs `search: {type: random"):
            load_experiment(config)
        config["search"] = {"type": "random", "samples": 3, "seed": 0}
        self.assertEqual(len(load_experiment(config).runs), 3)
        with self.assertRaisesRegex(ExperimentError, "output"):
            load_experiment(tiny_config(self.data, losses=[{"name": "mse", "output": "logits_typo"}]))

    def test_variants(self):
        config = tiny_config(self.data)
        config["variants"] = [
            {"label": "small", "model": {"params": {"hidden_dims": [4]}}},
            {"label": "sgd", "optimizer": {"name": "sgd", "learning_rate": [0.1, 0.2]}},
        ]
        experiment = load_experiment(config)
        self.assertEqual(len(experiment.runs), 3)
        self.assertTrue(experiment.runs[0].run_id.startswith("variant=small"))
        self.assertEqual(experiment.runs[0].config["model"]["params"]["hidden_dims"], [4])
        self.assertEqual(experiment.runs[0].config["model"]["params"]["num_classes"], 3)
        self.assertEqual(experiment.runs[2].config["optimizer"], {"name": "sgd", "learning_rate": 0.2})

    def test_plugins_register_components(self):
        module = os.path.join(self.dir, "my_exp_plugin.py")
        with open(module, "w") as f:
            f.write(textwrap.dedent("""\
                from dlzoo.registry import register_component
                from dlzoo.experiments.transforms import Transform

                @register_component("transform", "plugin_double")
                class Double(Transform):
                    def apply_array(self, array):
                        return array * 2
                """))
        sys.path.insert(0, self.dir)
        try:
            config = tiny_config(self.data)
            config["data"]["transforms"] = [{"name": "plugin_double"}]
            with self.assertRaisesRegex(ExperimentError, "plugin_double"):
                load_experiment(config)
            self.assertEqual(len(load_experiment(config, plugins=["my_exp_plugin"]).runs), 1)
            config["plugins"] = ["my_exp_plugin"]
            # A file's plugin runs code: only with the caller's opt-in (naming it, or trusting the file).
            with self.assertRaisesRegex(ExperimentError, r"plugins = \['my_exp_plugin'\]: a composition file cannot import code"):
                load_experiment(config)
            self.assertEqual(len(load_experiment(config, plugins=["my_exp_plugin"]).runs), 1)
            self.assertEqual(len(load_experiment(config, trust_plugins=True).runs), 1)
            config["plugins"] = ["no_such_plugin_module"]
            with self.assertRaisesRegex(ExperimentError, "cannot import"):
                load_experiment(config, trust_plugins=True)
        finally:
            sys.path.remove(self.dir)


class ShippedExamplesTest(unittest.TestCase):
    def test_digits_example(self):
        experiment = load_experiment(os.path.join(EXAMPLES, "digits.yaml"))
        self.assertEqual(len(experiment.runs), 8)
        self.assertEqual(experiment.dimensions, ["backend", "model.name", "optimizer.learning_rate"])
        self.assertEqual({r.config["model"]["name"] for r in experiment.runs}, {"image-convnext-tiny", "image-mlp-tiny"})
        self.assertEqual({r.backend for r in experiment.runs}, {"jax", "torch"})
        self.assertTrue(all(r.config["data"]["cv"] == 3 for r in experiment.runs))

    def test_lcm_quickstart_example(self):
        experiment = load_experiment(os.path.join(EXAMPLES, "lcm_quickstart.yaml"))
        self.assertEqual([r.config["model"]["name"] for r in experiment.runs], ["lcm-base-tiny", "lcm-two-tower-tiny"])
        self.assertEqual([r.config["losses"][0]["name"] for r in experiment.runs], ["next_concept_mse", "diffusion_mse"])


class ScientificNotationTest(unittest.TestCase):
    """`1e-3` is a number in composition files and in `key=value` overrides (issue 17, item 4)."""

    def test_grid_override_from_the_guide(self):
        experiment = load_experiment(os.path.join(EXAMPLES, "digits.yaml"), overrides=["optimizer.learning_rate=[1e-3,1e-2]"])
        self.assertEqual({r.config["optimizer"]["learning_rate"] for r in experiment.runs}, {1e-3, 1e-2})

    def test_in_a_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "exp.yaml")
            text = yaml.safe_dump(tiny_config(tiny_arrays(tmp))).replace("learning_rate: 0.01", "learning_rate: 1e-2")
            self.assertIn("learning_rate: 1e-2", text)
            with open(path, "w") as f:
                f.write(text)
            self.assertEqual(load_experiment(path).runs[0].config["optimizer"]["learning_rate"], 1e-2)

    def test_yaml_errors_name_the_place_not_a_value(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "broken.yaml")
            with open(path, "w") as f:
                f.write("name: x\ntraining: {epochs: 2\n")
            with self.assertRaises(ExperimentError) as ctx:
                load_experiment(path)
            text = str(ctx.exception)
            self.assertIn("broken.yaml: not valid YAML (line", text)
            self.assertNotIn("= None", text)


class RefusedBeforeAnyRunTest(unittest.TestCase):
    """Values that cannot be right, missing data files, escaping names (issue 17, items 2, 3, 5)."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = cls._tmp.name
        cls.data = tiny_arrays(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def problems(self, config, **kwargs):
        with self.assertRaises(ExperimentError) as ctx:
            load_experiment(config, **kwargs)
        return {p.key: p for p in ctx.exception.problems}, str(ctx.exception)

    def test_numeric_options_have_ranges(self):
        config = tiny_config(self.data, **{"optimizer.learning_rate": -0.01})
        config["schedule"] = {"name": "cosine_decay", "alpha": 2.0}
        config["callbacks"] = [{"name": "early_stopping", "patience": -1},
                               {"name": "reduce_lr_on_plateau", "factor": 1.5}]
        config["losses"] = [{"name": "sparse_categorical_crossentropy", "from_logits": True}]
        config["search"] = {"type": "grid", "seed": -3}
        problems, text = self.problems(config)
        self.assertEqual(problems["optimizer.learning_rate"].value, -0.01)
        self.assertIn("optimizer.learning_rate = -0.01: must be in (0, inf).", text)
        self.assertIn("schedule.alpha = 2.0: must be in [0, 1].", text)
        self.assertIn("callbacks[0].patience = -1: must be an integer in [0, inf).", text)
        self.assertIn("callbacks[1].factor = 1.5: must be in (0, 1).", text)
        self.assertIn("search.seed", problems)
        sgd = tiny_config(self.data, optimizer={"name": "sgd", "learning_rate": 0.1, "momentum": 3.0})
        self.assertIn("optimizer.momentum = 3.0: must be in [0, 1].", self.problems(sgd)[1])

    def test_labels_are_checked_against_the_heads_classes(self):
        digits = os.path.join(EXAMPLES, "digits.yaml")
        problems, text = self.problems(digits, overrides=["model.params.num_classes=3", "backend=jax"])
        problem = problems["model.params.num_classes"]
        self.assertEqual(problem.value, 3)
        self.assertIn("the dataset's labels run from 0 to 9", text)
        self.assertIn("are outside [0, 3), the classes of the model's head (params.num_classes). Use at least 10", text)
        self.assertEqual(len(load_experiment(digits, overrides=["backend=jax"]).runs), 4)  # 10 classes: fine

    def test_missing_data_files_are_found_up_front(self):
        missing = os.path.join(self.dir, "missing.npz")
        problems, text = self.problems(tiny_config(missing))
        self.assertIn("data.dataset.path", problems)
        self.assertIn(f"data.dataset.path = {missing!r}: no such file.", text)
        split = tiny_config(self.data)
        split["data"]["dataset"] = {"name": "arrays", "splits": {"train": self.data, "test": missing}}
        self.assertIn("data.dataset.splits.test", self.problems(split)[0])

    def test_names_become_one_path_component(self):
        for name, expected in (("../../escaped", "escaped"), ("/etc/x", "etc-x"), ("..", "experiment"), ("a b/c", "a-b-c")):
            experiment = load_experiment(tiny_config(self.data, name=name))
            self.assertEqual(experiment.name, expected)
            self.assertEqual(experiment.output_dir, os.path.join("runs", expected))

    def test_output_dir_outside_the_working_directory_needs_the_flag(self):
        for outside in ("../elsewhere", os.path.join(self.dir, "runs")):
            problems, text = self.problems(tiny_config(self.data, output_dir=outside))
            self.assertIn("output_dir", problems)
            self.assertIn(os.path.realpath(outside), text)
            self.assertIn(f"outside the working directory {os.path.realpath(os.getcwd())}", text)
            self.assertIn("--allow-outside-workdir", text)
            allowed = load_experiment(tiny_config(self.data, output_dir=outside), allow_outside_workdir=True)
            self.assertEqual(allowed.output_dir, outside)
        self.assertEqual(load_experiment(tiny_config(self.data, output_dir="runs/here")).output_dir, "runs/here")
        explicit = load_experiment(tiny_config(self.data, output_dir="../x"), output_dir="/tmp/chosen")
        self.assertEqual(explicit.output_dir, "/tmp/chosen")  # the caller's own choice needs no flag
