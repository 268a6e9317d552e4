import keras
import numpy as np
from keras import ops

from dlzoo.blocks import RotaryEmbedding
from dlzoo.testing import TestCase


def rope_reference(x, positions, theta=10000.0, layout="interleaved", scaling_factor=1.0):
    """RoFormer eq. 34 as a complex multiply, float64. `positions`: (seq,) or (batch, seq)."""
    x = x.astype("float64")
    d = x.shape[-1]
    freqs = theta ** (-2.0 * np.arange(d // 2) / d)
    positions = np.broadcast_to(np.asarray(positions, "float64"), x.shape[:2]) / scaling_factor
    rotation = np.exp(1j * positions[..., None] * freqs)[:, :, None, :]  # (b, s, 1, d/2)
    if layout == "interleaved":
        z = (x[..., 0::2] + 1j * x[..., 1::2]) * rotation
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = z.real, z.imag
        return out
    z = (x[..., : d // 2] + 1j * x[..., d // 2 :]) * rotation
    return np.concatenate([z.real, z.imag], axis=-1)


def random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


class RotaryEmbeddingTest(TestCase):
    def test_block_basics(self):
        for layout in ("interleaved", "rotate_half"):
            self.run_block_test(
                RotaryEmbedding,
                init_kwargs={"layout": layout},
                input_shape=(2, 5, 3, 8),
                expected_output_shape=(2, 5, 3, 8),
                expected_num_trainable_weights=0,
                call_kwargs={"start_index": 3},
            )

    def test_block_basics_with_positions(self):
        self.run_block_test(
            RotaryEmbedding,
            init_kwargs={"layout": "rotate_half", "scaling_factor": 2.0},
            input_shape={"inputs": (2, 5, 3, 8), "positions": {"shape": (2, 5), "dtype": "int32", "max": 50}},
            expected_output_shape=(2, 5, 3, 8),
        )

    def test_matches_numpy_reference(self):
        x = random((2, 6, 3, 8))
        for layout in ("interleaved", "rotate_half"):
            layer = RotaryEmbedding(max_wavelength=500.0, layout=layout, scaling_factor=2.0)
            expected = rope_reference(x, np.arange(6) + 4, 500.0, layout, 2.0)
            self.assertAllClose(layer(x, start_index=4), expected, atol=2e-5)
            positions = np.array([[0, 3, 7, 9, 20, 1000], [5, 5, 1, 2, 3, 4]], dtype="int32")
            expected = rope_reference(x, positions, 500.0, layout, 2.0)
            self.assertAllClose(layer(x, positions=positions), expected, atol=1e-4)

    def test_layouts_differ_by_a_permutation(self):
        x = random((1, 4, 2, 8))
        deinterleave = [0, 2, 4, 6, 1, 3, 5, 7]
        interleave = np.argsort(deinterleave)
        interleaved = RotaryEmbedding(layout="interleaved")(x)
        rotate_half = RotaryEmbedding(layout="rotate_half")(x[..., deinterleave])
        self.assertAllClose(ops.take(rotate_half, interleave, axis=-1), interleaved, atol=1e-6)
        # And the layouts really differ on the same input.
        self.assertGreater(np.max(np.abs(ops.convert_to_numpy(interleaved) - rope_reference(x, np.arange(4), layout="rotate_half"))), 0.1)

    def test_start_index_equals_slicing_a_longer_sequence(self):
        x = random((2, 9, 2, 6))
        layer = RotaryEmbedding(layout="interleaved")
        full = ops.convert_to_numpy(layer(x))
        self.assertAllClose(layer(x[:, 5:8], start_index=5), full[:, 5:8], atol=1e-5)
        start = ops.convert_to_tensor(np.array(5, dtype="int32"))
        self.assertAllClose(layer(x[:, 5:8], start_index=start), full[:, 5:8], atol=1e-5)

    def test_scores_depend_only_on_relative_position(self):
        q, k = random((1, 1, 1, 8), 1), random((1, 1, 1, 8), 2)
        layer = RotaryEmbedding(layout="rotate_half", max_wavelength=100.0)

        def score(m, n):
            qm = layer(q, positions=np.array([[m]], dtype="int32"))
            kn = layer(k, positions=np.array([[n]], dtype="int32"))
            return float(ops.convert_to_numpy(ops.sum(qm * kn)))

        self.assertAlmostEqual(score(7, 3), score(14, 10), places=4)
        self.assertAlmostEqual(score(2, 9), score(30, 37), places=4)
        self.assertNotAlmostEqual(score(7, 3), score(7, 4), places=2)

    def test_angles_in_float32_under_bfloat16(self):
        x = random((1, 3, 1, 8))
        positions = np.array([[1001, 2047, 3001]], dtype="int32")  # not representable in bfloat16
        out = RotaryEmbedding(dtype="mixed_bfloat16")(x, positions=positions)
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "bfloat16")
        self.assertAllClose(ops.cast(out, "float32"), rope_reference(x, positions), atol=5e-2)

    def test_count_params_for(self):
        self.assertEqual(RotaryEmbedding().count_params_for((2, 5, 4, 8)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "layout", "Did you mean 'rotate_half'"):
            RotaryEmbedding(layout="rotate-half")
        with self.assertRaisesNamed(ValueError, "max_wavelength"):
            RotaryEmbedding(max_wavelength=0.0)
        with self.assertRaisesNamed(ValueError, "scaling_factor"):
            RotaryEmbedding(scaling_factor=-1.0)
        with self.assertRaisesNamed(TypeError, "max_wavelength"):
            RotaryEmbedding(max_wavelength="big")
        with self.assertRaisesNamed(ValueError, "head_dim"):
            RotaryEmbedding().build((2, 5, 4, 7))
