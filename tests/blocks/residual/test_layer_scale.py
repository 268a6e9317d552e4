import numpy as np

from dlzoo.blocks import LayerScale
from dlzoo.testing import TestCase


def layer_scale_reference(x, gamma):
    """CaiT (Touvron et al. 2021) eq.: diag(gamma) applied per channel, float64."""
    return x.astype("float64") @ np.diag(gamma.astype("float64"))


class LayerScaleTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            LayerScale,
            init_kwargs={"init_value": 0.1},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=1,
        )

    def test_initial_value(self):
        x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype("float32")
        layer = LayerScale()
        self.assertAllClose(layer(x), x.astype("float64") * 1e-5, atol=1e-9, rtol=1e-6)
        self.assertAllClose(layer.gamma, np.full((8,), 1e-5), atol=0, rtol=1e-6)

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((2, 3, 8)).astype("float32")
        gamma = rng.standard_normal((8,)).astype("float32")
        layer = LayerScale()
        layer.build(x.shape)
        layer.gamma.assign(gamma)
        self.assertAllClose(layer(x), layer_scale_reference(x, gamma), atol=1e-6)

    def test_count_params_for(self):
        layer = LayerScale()
        self.assertEqual(layer.count_params_for((2, 3, 12)), 12)
        layer.build((2, 3, 12))
        self.assertEqual(layer.count_params(), 12)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(TypeError, "init_value"):
            LayerScale(init_value="small")
        with self.assertRaisesNamed(ValueError, "init_value"):
            LayerScale(init_value=float("nan"))
