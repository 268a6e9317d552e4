import numpy as np
from keras import ops

from dlzoo.blocks import SinusoidalPositionEmbedding
from dlzoo.testing import TestCase


def sinusoidal_reference(positions, d, max_wavelength=10000.0, layout="concat"):
    """Element by element from the formulas (float64): (len(positions), d)."""
    half = d // 2
    out = np.zeros((len(positions), d))
    for row, p in enumerate(positions):
        for k in range(half):
            if layout == "concat":  # tensor2tensor get_timing_signal_1d
                w = max_wavelength ** (-k / max(half - 1, 1))
                out[row, k], out[row, half + k] = np.sin(p * w), np.cos(p * w)
            else:  # Vaswani et al. (2017), section 3.5
                w = 1.0 / max_wavelength ** (2 * k / d)
                out[row, 2 * k], out[row, 2 * k + 1] = np.sin(p * w), np.cos(p * w)
    return out


class SinusoidalPositionEmbeddingTest(TestCase):
    def test_block_basics(self):
        for layout in ("concat", "interleaved"):
            self.run_block_test(
                SinusoidalPositionEmbedding,
                init_kwargs={"layout": layout},
                input_shape=(2, 5, 8),
                expected_output_shape=(2, 5, 8),
                expected_num_trainable_weights=0,
                call_kwargs={"start_index": 3},
            )

    def test_matches_numpy_reference(self):
        x = np.zeros((2, 7, 12), "float32")
        for layout in ("concat", "interleaved"):
            layer = SinusoidalPositionEmbedding(max_wavelength=1000.0, layout=layout)
            expected = sinusoidal_reference(range(7), 12, 1000.0, layout)
            self.assertAllClose(layer(x), np.broadcast_to(expected, x.shape), atol=1e-5)
            expected = sinusoidal_reference(range(40, 47), 12, 1000.0, layout)
            self.assertAllClose(layer(x, start_index=40), np.broadcast_to(expected, x.shape), atol=1e-4)
            start = ops.convert_to_tensor(np.array(40, dtype="int32"))
            self.assertAllClose(layer(x, start_index=start)[0], expected, atol=1e-4)

    def test_golden_values(self):
        # Position 1, d=4. concat: w = (1, 1e-4); interleaved: w = (1, 1e-2).
        x = np.zeros((1, 2, 4), "float32")
        concat = SinusoidalPositionEmbedding(layout="concat")(x)[0, 1]
        self.assertAllClose(concat, [np.sin(1.0), np.sin(1e-4), np.cos(1.0), np.cos(1e-4)], atol=1e-6)
        interleaved = SinusoidalPositionEmbedding(layout="interleaved")(x)[0, 1]
        self.assertAllClose(interleaved, [np.sin(1.0), np.cos(1.0), np.sin(1e-2), np.cos(1e-2)], atol=1e-6)

    def test_count_params_for(self):
        self.assertEqual(SinusoidalPositionEmbedding().count_params_for((2, 5, 8)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "layout", "Did you mean 'interleaved'"):
            SinusoidalPositionEmbedding(layout="interleave")
        with self.assertRaisesNamed(ValueError, "max_wavelength"):
            SinusoidalPositionEmbedding(max_wavelength=-5.0)
        with self.assertRaisesNamed(ValueError, "hidden_dim=7"):
            SinusoidalPositionEmbedding().build((2, 5, 7))
