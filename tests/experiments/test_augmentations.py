"""Training-time augmentations: random_shift against a pixel-by-pixel reference, seeding, and the schema."""

import numpy as np
import pytest
import yaml

from dlzoo.experiments import components as C
from dlzoo.experiments.augmentations import RandomShift
from dlzoo.experiments.callbacks import SeededBatches
from dlzoo.experiments.schema import ExperimentError, load_experiment
from tests.experiments._helpers import tiny_arrays, tiny_config


def shifted_reference(image, dy, dx, fill):
    """out[y, x] = image[y - dy, x - dx] where that pixel exists, else `fill` (loops, no slicing)."""
    height, width, channels = image.shape
    out = np.full_like(image, fill)
    for y in range(height):
        for x in range(width):
            if 0 <= y - dy < height and 0 <= x - dx < width:
                out[y, x] = image[y - dy, x - dx]
    return out


def test_random_shift_moves_each_image_by_its_drawn_offsets():
    images = np.random.default_rng(0).normal(size=(6, 5, 7, 2)).astype("float32")
    shifted = RandomShift(max_shift=2, fill=-1.0)(images, np.random.default_rng(3))
    offsets = np.random.default_rng(3).integers(-2, 3, size=(6, 2))  # the draws random_shift makes
    assert len({tuple(o) for o in offsets}) > 1
    for image, out, (dy, dx) in zip(images, shifted, offsets):
        np.testing.assert_array_equal(out, shifted_reference(image, dy, dx, -1.0))


def test_random_shift_zero_is_the_identity_and_bad_input_is_named():
    images = np.ones((2, 4, 4, 1), "float32")
    np.testing.assert_array_equal(RandomShift(max_shift=0)(images, np.random.default_rng(0)), images)
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(max_shift=-1)
    with pytest.raises(TypeError, match="fill"):
        RandomShift(fill="black")
    with pytest.raises(ValueError, match=r"\(n, height, width, channels\)"):
        RandomShift()(np.ones((2, 4, 4)), np.random.default_rng(0))


def test_dict_inputs_shift_only_the_named_key():
    x = {"images": np.ones((2, 4, 4, 1)), "other": np.ones((2, 4, 4, 1))}
    out = RandomShift(max_shift=3, key="images")(x, np.random.default_rng(1))
    np.testing.assert_array_equal(out["other"], x["other"])
    assert not np.array_equal(out["images"], x["images"])


def test_batches_are_augmented_per_seed_epoch_and_batch():
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 1)).astype("float32")
    y = np.arange(8)

    def batch(epoch, index, seed=0):
        feed = SeededBatches(x, y, batch_size=4, seed=seed, augmentations=[C.make("augmentation", {"name": "random_shift", "max_shift": 2})])
        feed.epoch = epoch
        return feed[index]

    np.testing.assert_array_equal(batch(0, 1)[0], batch(0, 1)[0])  # a resumed run sees the same batch
    assert not np.array_equal(batch(0, 1)[0], batch(1, 1)[0])  # a new draw each epoch
    assert not np.array_equal(batch(0, 1)[0], batch(0, 1, seed=5)[0])
    np.testing.assert_array_equal(batch(0, 1)[1], y[4:])  # labels untouched
    plain = SeededBatches(x, y, batch_size=4)
    np.testing.assert_array_equal(plain[1][0], x[4:])  # no augmentation unless asked (validation, test)


def _problems(tmp_path, augment):
    config = tiny_config(tiny_arrays(str(tmp_path)))
    config["data"]["augment"] = augment
    path = tmp_path / "augment.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        load_experiment(str(path))
    except ExperimentError as error:
        return [f"{p.key}: {p}" for p in error.problems]
    return []


def test_schema_refuses_unknown_or_invalid_augmentations_before_any_run(tmp_path):
    problems = _problems(tmp_path, [{"name": "random_shfit"}])
    assert any(p.startswith("data.augment[0]") and "random_shift" in p for p in problems), problems
    problems = _problems(tmp_path, [{"name": "random_shift", "max_shift": -2}])
    assert any(p.startswith("data.augment[0]") and "max_shift" in p for p in problems), problems
    assert _problems(tmp_path, [{"name": "random_shift", "max_shift": 1}]) == []
