import numpy as np

from dlzoo.blocks.timeseries import SeriesPatching
from dlzoo.testing import TestCase


def patches_reference(x, patch_length, stride, pad):
    """Nie et al. (2023), section 3.1: pad the end with `stride` copies of the last value, then unfold."""
    if pad:
        x = np.concatenate([x, np.repeat(x[:, -1:], stride, axis=1)], axis=1)
    else:  # Hugging Face PatchTSTPatchify: drop the first steps so the last patch ends at the last step
        count = (x.shape[1] - patch_length) // stride + 1
        x = x[:, x.shape[1] - (patch_length + stride * (count - 1)):]
    starts = range(0, x.shape[1] - patch_length + 1, stride)
    return np.stack([x[:, s:s + patch_length] for s in starts], axis=1)


class SeriesPatchingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            SeriesPatching,
            init_kwargs={"patch_length": 4, "stride": 2},
            input_shape=(3, 10),
            expected_output_shape=(3, 5, 4),
            expected_num_trainable_weights=0,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 23)).astype("float32")
        for patch_length, stride in ((16 // 2, 4), (5, 5), (6, 2), (23, 1)):
            for pad in (True, False):
                layer = SeriesPatching(patch_length=patch_length, stride=stride, use_end_padding=pad)
                expected = patches_reference(x, patch_length, stride, pad)
                self.assertAllClose(layer(x.astype("float32")), expected, atol=0, rtol=0)
                self.assertEqual(layer.compute_output_shape((2, 23)), expected.shape)

    def test_paper_patch_count(self):
        # PatchTST/42: look-back 336, patch 16, stride 8 -> 42 patches (Nie et al. 2023, section 4.1).
        self.assertEqual(SeriesPatching(16, 8).compute_output_shape((None, 336)), (None, 42, 16))
        self.assertEqual(SeriesPatching(16, 8).count_params_for((None, 336)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "patch_length", "0"):
            SeriesPatching(patch_length=0, stride=1)
        with self.assertRaisesNamed(ValueError, "length=3", "patch_length=4"):
            SeriesPatching(patch_length=4, stride=1).build((2, 3))
        with self.assertRaisesNamed(ValueError, "input_shape"):
            SeriesPatching(patch_length=4, stride=1).build((2, 8, 3))
