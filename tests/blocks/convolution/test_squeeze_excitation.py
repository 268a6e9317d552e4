import numpy as np
from keras.ops import convert_to_numpy as to_numpy

from dlzoo.blocks.convolution import SqueezeExcitation
from dlzoo.testing import TestCase
from tests.blocks.convolution._reference import relu, sigmoid, silu, squeeze_excitation


class SqueezeExcitationTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            SqueezeExcitation,
            init_kwargs={"squeeze_dim": 2},
            input_shape=(2, 4, 4, 8),
            expected_output_shape=(2, 4, 4, 8),
            expected_num_trainable_weights=4,  # two kernels, two biases
        )

    def test_block_basics_with_ratio_and_other_activations(self):
        self.run_block_test(
            SqueezeExcitation,
            init_kwargs={"squeeze_ratio": 0.25, "activation": "silu", "gate_activation": "hard_sigmoid"},
            input_shape=(2, 3, 5, 8),
            expected_output_shape=(2, 3, 5, 8),
            expected_num_trainable_weights=4,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 5, 4, 8)).astype("float32")
        for activation, reference_activation in (("relu", relu), ("silu", silu)):
            layer = SqueezeExcitation(squeeze_dim=3, activation=activation)
            layer.build(x.shape)
            w1, b1 = rng.standard_normal((8, 3)), rng.standard_normal(3)
            w2, b2 = rng.standard_normal((3, 8)), rng.standard_normal(8)
            layer.set_weights([w.astype("float32") for w in (w1, b1, w2, b2)])
            w1, b1, w2, b2 = (np.asarray(w, "float32").astype("float64") for w in (w1, b1, w2, b2))
            expected = squeeze_excitation(x.astype("float64"), w1, b1, w2, b2, activation=reference_activation, gate=sigmoid)
            self.assertAllClose(layer(x), expected, atol=1e-5, rtol=1e-5, msg=activation)

    def test_gates_are_global(self):
        # The gate depends on the whole image: changing one pixel rescales every position of a channel.
        rng = np.random.default_rng(1)
        x = rng.standard_normal((1, 4, 4, 4)).astype("float32")
        layer = SqueezeExcitation(squeeze_dim=2)
        before = to_numpy(layer(x))
        changed = x.copy()
        changed[0, 0, 0] += 5.0
        after = to_numpy(layer(changed))
        ratio_before, ratio_after = before[0, 3, 3] / x[0, 3, 3], after[0, 3, 3] / x[0, 3, 3]
        self.assertGreater(np.abs(ratio_before - ratio_after).max(), 1e-4)

    def test_count_params_for(self):
        for kwargs in ({"squeeze_dim": 5}, {}, {"squeeze_ratio": 0.5}):
            layer = SqueezeExcitation(**kwargs)
            expected = layer.count_params_for((1, 4, 4, 32))
            layer.build((1, 4, 4, 32))
            self.assertEqual(layer.count_params(), expected, msg=str(kwargs))
        # Hu et al. with r = 16 on 256 channels: 2 * 256 * 16 + 16 + 256.
        self.assertEqual(SqueezeExcitation().count_params_for((1, 56, 56, 256)), 2 * 256 * 16 + 16 + 256)
        # The squeeze width never drops below one unit.
        self.assertEqual(SqueezeExcitation(squeeze_ratio=0.01).count_params_for((1, 2, 2, 4)), 4 + 1 + 4 + 4)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "squeeze_dim"):
            SqueezeExcitation(squeeze_dim=0)
        with self.assertRaisesNamed(ValueError, "squeeze_ratio"):
            SqueezeExcitation(squeeze_ratio=0.0)
        with self.assertRaisesNamed(ValueError, "gate_activation", "sigmod"):
            SqueezeExcitation(gate_activation="sigmod")
        with self.assertRaisesNamed(ValueError, "input_shape"):
            SqueezeExcitation().build((2, 8))
