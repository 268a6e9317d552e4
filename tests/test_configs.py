"""Zoo config files: locating, loading, `base:` chains, overrides and parameter checks (no model is built)."""

import json
import os
import textwrap
import unittest
from pathlib import Path
from tempfile import TemporaryDirectory

from dlzoo import configs

def write(directory, relative, text):
    path = Path(directory) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


class ConfigDirsTest(unittest.TestCase):
    def setUp(self):
        self._env = os.environ.get(configs.ENV_CONFIG_PATH)
        self._tmp = TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        if self._env is None:
            os.environ.pop(configs.ENV_CONFIG_PATH, None)
        else:
            os.environ[configs.ENV_CONFIG_PATH] = self._env
        self._tmp.cleanup()

    def test_repo_configs_are_found(self):
        names = configs.config_names()
        for name in ("gpt-tiny", "gpt-base", "llama-tiny", "llama-3-8b", "bert-tiny", "bert-base"):
            self.assertIn(name, names)
        self.assertIsNotNone(configs.packaged_config_dir())

    def test_env_path_is_searched_first_and_can_shadow(self):
        write(self.tmp, "mine/my-model.yaml", """\
            name: my-model
            model: gpt
            params: {num_layers: 1}
            """)
        write(self.tmp, "gpt-tiny.yaml", """\
            name: gpt-tiny
            model: gpt
            params: {num_layers: 7}
            """)
        os.environ[configs.ENV_CONFIG_PATH] = self.tmp
        self.assertEqual(configs.config_dirs()[0], Path(self.tmp).resolve())
        self.assertIn("my-model", configs.config_names())
        self.assertEqual(configs.load_raw("gpt-tiny")["params"], {"num_layers": 7})
        self.assertEqual(configs.load_raw("my-model")["params"], {"num_layers": 1})

    def test_register_config_dir_rejects_missing_directory(self):
        with self.assertRaisesRegex(ValueError, "must exist"):
            configs.register_config_dir(os.path.join(self.tmp, "nope"))

    def test_unknown_name_suggests_closest(self):
        with self.assertRaises(ValueError) as cm:
            configs.load_raw("gpt-tiyn")
        self.assertIn("Did you mean", str(cm.exception))
        self.assertIn("gpt-tiny", str(cm.exception))

    def test_base_chain_merges_parent_first(self):
        write(self.tmp, "a.yaml", """\
            name: a
            model: gpt
            reference: paper-a
            description: the parent
            params: {hidden_dim: 64, attention: {num_heads: 4, use_bias: true}}
            extensions: [x]
            """)
        write(self.tmp, "b.yaml", """\
            name: b
            base: a
            description: the child
            params: {attention: {num_heads: 8}}
            """)
        write(self.tmp, "c.yaml", """\
            name: c
            base: b
            params: {hidden_dim: 32}
            extensions: []
            """)
        os.environ[configs.ENV_CONFIG_PATH] = self.tmp
        b = configs.load_raw("b")
        self.assertEqual(b["name"], "b")
        self.assertEqual(b["model"], "gpt")
        self.assertEqual(b["reference"], "paper-a")
        self.assertEqual(b["description"], "the child")
        self.assertEqual(b["params"], {"hidden_dim": 64, "attention": {"num_heads": 8, "use_bias": True}})
        self.assertEqual(b["extensions"], ["x"])
        self.assertNotIn("base", b)
        c = configs.load_raw("c")
        self.assertEqual(c["params"], {"hidden_dim": 32, "attention": {"num_heads": 8, "use_bias": True}})
        self.assertEqual(c["extensions"], [])

    def test_base_cycle_is_reported(self):
        write(self.tmp, "p.yaml", "name: p\nbase: q\nmodel: gpt\n")
        write(self.tmp, "q.yaml", "name: q\nbase: p\nmodel: gpt\n")
        os.environ[configs.ENV_CONFIG_PATH] = self.tmp
        with self.assertRaisesRegex(ValueError, "loops: p -> q -> p"):
            configs.load_raw("p")

    def test_bad_files(self):
        write(self.tmp, "bad-key.yaml", "name: bad-key\nmodel: gpt\nparmas: {}\n")
        write(self.tmp, "wrong-name.yaml", "name: other\nmodel: gpt\n")
        write(self.tmp, "not-a-map.yaml", "- 1\n- 2\n")
        write(self.tmp, "broken.yaml", "name: [unclosed\n")
        os.environ[configs.ENV_CONFIG_PATH] = self.tmp
        with self.assertRaises(ValueError) as cm:
            configs.load_raw("bad-key")
        self.assertIn("'parmas'", str(cm.exception))
        self.assertIn("Did you mean 'params'", str(cm.exception))
        with self.assertRaisesRegex(ValueError, "must equal its file stem"):
            configs.load_raw("wrong-name")
        with self.assertRaisesRegex(ValueError, "must be a mapping"):
            configs.load_raw("not-a-map")
        with self.assertRaisesRegex(ValueError, "Cannot parse"):
            configs.load_raw("broken")

    def test_paths_dicts_and_presets(self):
        path = write(self.tmp, "anywhere/x.json", json.dumps({"name": "x", "model": "gpt", "params": {}}))
        self.assertEqual(configs.load_raw(str(path))["model"], "gpt")
        self.assertEqual(configs.load_raw(path)["name"], "x")
        self.assertEqual(configs.load_raw({"model": "gpt", "params": {"hidden_dim": 8}})["params"], {"hidden_dim": 8})
        preset = Path(self.tmp) / "preset"
        preset.mkdir()
        (preset / "config.json").write_text(json.dumps({"name": "gpt-tiny", "model": "gpt", "params": {}}))
        self.assertTrue(configs.is_preset_dir(preset))
        self.assertEqual(configs.load_raw(str(preset))["name"], "gpt-tiny")
        with self.assertRaises(FileNotFoundError):
            configs.load_raw(os.path.join(self.tmp, "missing", "y.yaml"))
        with self.assertRaisesRegex(TypeError, "zoo name"):
            configs.load_raw(3)
        with self.assertRaisesRegex(TypeError, "plain JSON"):
            configs.load_raw({"model": "gpt", "params": {"x": object()}})


class OverridesTest(unittest.TestCase):
    def test_parse_value(self):
        cases = {
            "3": 3,
            "-2": -2,
            "0.5": 0.5,
            "1e-5": 1e-5,
            "true": True,
            "False": False,
            "null": None,
            "None": None,
            "gelu": "gelu",
            "'12'": "12",
            "[1, 2]": [1, 2],
            "{a: 1}": {"a": 1},
        }
        for text, expected in cases.items():
            value = configs.parse_value(text)
            self.assertEqual(value, expected, text)
            self.assertIs(type(value), type(expected), text)

    def test_parse_overrides(self):
        self.assertEqual(
            configs.parse_overrides(["num_layers=4", "attention.num_key_value_heads=2", "norm.type=rms_norm"]),
            {"num_layers": 4, "attention.num_key_value_heads": 2, "norm.type": "rms_norm"},
        )
        with self.assertRaisesRegex(ValueError, "key=value"):
            configs.parse_overrides(["num_layers"])
        with self.assertRaisesRegex(ValueError, "needs a key"):
            configs.parse_overrides(["=3"])

    def test_nest_overrides(self):
        self.assertEqual(
            configs.nest_overrides({"attention.num_heads": 2, "attention__head_dim": 8, "dropout": 0.0}),
            {"attention": {"num_heads": 2, "head_dim": 8}, "dropout": 0.0},
        )
        self.assertEqual(
            configs.nest_overrides({"attention": {"num_heads": 2}, "attention.head_dim": 8}),
            {"attention": {"num_heads": 2, "head_dim": 8}},
        )
        with self.assertRaisesRegex(ValueError, "Conflicting"):
            configs.nest_overrides({"attention": 3, "attention.head_dim": 8})
        with self.assertRaisesRegex(ValueError, "empty part"):
            configs.nest_overrides({"attention..x": 1})

    def test_deep_merge_and_flatten(self):
        base = {"a": 1, "n": {"x": 1, "y": {"z": 2}}}
        merged = configs.deep_merge(base, {"n": {"y": {"z": 3}}, "b": 2})
        self.assertEqual(merged, {"a": 1, "b": 2, "n": {"x": 1, "y": {"z": 3}}})
        self.assertEqual(base["n"]["y"]["z"], 2)  # not mutated
        self.assertEqual(configs.flatten(merged), {"a": 1, "b": 2, "n.x": 1, "n.y.z": 3})


class ExtensionSpecTest(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(configs.normalize_extensions(None), [])
        self.assertEqual(configs.normalize_extensions("a"), [("a", {})])
        self.assertEqual(
            configs.normalize_extensions(["a", {"name": "b", "rank": 2}, {"c": {"x": 1}}, ("d", {"y": 2})]),
            [("a", {}), ("b", {"rank": 2}), ("c", {"x": 1}), ("d", {"y": 2})],
        )
        self.assertEqual(configs.extension_entry("a", {}), "a")
        self.assertEqual(configs.extension_entry("b", {"rank": 2}), {"name": "b", "rank": 2})

    def test_bad_forms(self):
        with self.assertRaisesRegex(TypeError, "`extensions` must be a list"):
            configs.normalize_extensions(3)
        with self.assertRaisesRegex(TypeError, "An extension must be a name"):
            configs.normalize_extensions([3])
        with self.assertRaisesRegex(TypeError, "must be a mapping"):
            configs.normalize_extensions([{"name": "a", "x": 1}, ("b", 3)])


if __name__ == "__main__":
    unittest.main()
