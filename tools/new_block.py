"""Scaffold a new block and its test from the project template.

Usage: python tools/new_block.py <role>/<registry_name> [--class-name Name] [--paper arXiv:XXXX.XXXXX]

Writes dlzoo/blocks/<role>/<name>.py and tests/blocks/<role>/test_<name>.py (refuses to overwrite),
then prints the export line to add to dlzoo/blocks/<role>/__init__.py.
"""

import argparse
import os
import re
import sys

ROLES = ("normalization", "position", "attention", "feedforward", "residual", "stacks")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BLOCK = '''"""{class_name}: <one line on the technique>."""

import keras
from keras import ops

from dlzoo.flops import dense_flops
from dlzoo.registry import register_block
from dlzoo.validation import check_positive_int


@register_block("{name}", paper="{paper}", example={{"init_kwargs": {{"units": 8}}, "inputs": (2, 5, 16)}})
class {class_name}(keras.layers.Layer):
    """<Summary line.>

    <What the technique changes and why.>

    Args:
        units: int. <Meaning.>
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, seq_len, hidden_dim)`.

    Returns:
        Tensor of shape `(batch, seq_len, units)`.

    Reference:
        - [<Authors, year. Title>](https://arxiv.org/abs/{arxiv})
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))
        self.built = True

    def call(self, inputs):
        return ops.matmul(inputs, self.kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def count_params_for(self, input_shape):
        return int(input_shape[-1]) * self.units

    def flops_for(self, input_shape):
        # 2 x multiply-adds of the matrix products (see dlzoo.flops); elementwise work is not counted.
        return dense_flops(input_shape, self.units)

    def get_config(self):
        config = super().get_config()
        config.update({{"units": self.units}})
        return config
'''

TEST = '''import numpy as np

from dlzoo.blocks.{role}.{name} import {class_name}
from dlzoo.testing import TestCase


class {class_name}Test(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            {class_name},
            init_kwargs={{"units": 8}},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 8),
        )

    def test_matches_numpy_reference(self):
        x = np.random.default_rng(0).standard_normal((2, 5, 16)).astype("float32")
        layer = {class_name}(units=8)
        out = layer(x)
        expected = x.astype("float64") @ np.asarray(layer.kernel, dtype="float64")  # replace with the paper's formula
        self.assertAllClose(out, expected, atol=1e-5)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "units"):
            {class_name}(units=0)
'''


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="<role>/<registry_name>, e.g. normalization/dynamic_tanh")
    parser.add_argument("--class-name")
    parser.add_argument("--paper", default="arXiv:XXXX.XXXXX")
    args = parser.parse_args(argv)
    try:
        role, name = args.target.split("/")
    except ValueError:
        parser.error(f"target must be <role>/<registry_name>. Received: target={args.target!r}")
    if role not in ROLES:
        parser.error(f"role must be one of {', '.join(ROLES)}. Received: role={role!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        parser.error(f"registry_name must be snake_case. Received: registry_name={name!r}")
    class_name = args.class_name or "".join(part.capitalize() for part in name.split("_"))
    fields = dict(role=role, name=name, class_name=class_name, paper=args.paper, arxiv=args.paper.replace("arXiv:", ""))
    block_path = os.path.join(ROOT, "dlzoo", "blocks", role, f"{name}.py")
    test_path = os.path.join(ROOT, "tests", "blocks", role, f"test_{name}.py")
    for path in (block_path, test_path):
        if os.path.exists(path):
            parser.error(f"{os.path.relpath(path, ROOT)} already exists; not overwriting")
    os.makedirs(os.path.dirname(test_path), exist_ok=True)
    with open(block_path, "w") as f:
        f.write(BLOCK.format(**fields))
    with open(test_path, "w") as f:
        f.write(TEST.format(**fields))
    print(f"wrote {os.path.relpath(block_path, ROOT)} and {os.path.relpath(test_path, ROOT)}")
    print(f"add to dlzoo/blocks/{role}/__init__.py:\nfrom dlzoo.blocks.{role}.{name} import {class_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
