"""Class-conditional DiT sampling: the shared DDIM loop with classifier-free guidance.

`sample(model, class_labels, ...)` runs `DDIMScheduler.sample` (NumPy, the
same loop as the Two-Tower LCM's) around a trained DiT: at every step the
model predicts the noise for the requested classes and for the null class,
and the two are combined in epsilon space,

    eps = eps(x_t, t, null) + w * (eps(x_t, t, y) - eps(x_t, t, null)),

`w` = `guidance_scale` (`1.0` is the plain conditional model). The initial
noise comes from a NumPy generator seeded with `seed`, and every scheduler
step runs in NumPy, so a seed gives the same images on every backend up to
float tolerance.
"""

import numpy as np

import keras

from dlzoo.dit.images import image_grid, write_png
from dlzoo.dit.training import dit_scheduler
from dlzoo.validation import check_float, check_int, check_positive_int


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float32")


def model_layout(model):
    """`(image_shape, num_classes, null_class)` of a built DiT (read from its layers)."""
    image_shape = tuple(int(d) for d in model.input["latents"].shape[1:])
    embedding = model.get_layer("class_embedding")
    return image_shape, embedding.num_classes, embedding.null_class


def _noise_output(outputs):
    return outputs["noise"] if isinstance(outputs, dict) else outputs


def sample(
    model,
    class_labels,
    scheduler=None,
    num_inference_steps: int = 50,
    guidance_scale: float = 4.0,
    guidance_rescale: float = 0.0,
    eta: float = 0.0,
    seed: int = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """Generate one image per requested class label.

    Args:
        model: a built DiT (`dlzoo.build("dit-...")` or `dlzoo.load(path)`).
        class_labels: ints `(n,)`, each in `[0, num_classes)`.
        scheduler: `DDIMScheduler`. Defaults to `dit_scheduler()` (no x0
            clipping; pass `dit_scheduler(clip_sample=True)` for pixels in
            [-1, 1]).
        num_inference_steps: int. DDIM steps. Defaults to `50`.
        guidance_scale: float. Classifier-free guidance weight `w` (`1.0`:
            none; needs a model trained with label dropout). Defaults to `4.0`.
        guidance_rescale: float. Guidance rescale `phi` in [0, 1]. Defaults to `0.0`.
        eta: float. DDIM stochasticity (0 = deterministic). Defaults to `0.0`.
        seed: int. Seed of the initial noise (and of the `eta` noise).
            Defaults to `0`.
        batch_size: int. Images per model call. Defaults to `500`.

    Returns:
        float32 array `(n, height, width, channels)`: the x0 of the last step.
    """
    image_shape, num_classes, null_class = model_layout(model)
    labels = np.asarray(class_labels).astype("int32").reshape(-1)
    if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"`class_labels` must be a non-empty list of classes in [0, {num_classes}). "
            f"Received: class_labels={labels.tolist()[:20]}."
        )
    guidance_scale = check_float("guidance_scale", guidance_scale, min_value=0.0)
    if guidance_scale != 1.0 and null_class is None:
        raise ValueError(
            "Classifier-free guidance needs the null class, which a model trained without label dropout "
            f"does not have (label_dropout=0). Use guidance_scale=1.0. Received: guidance_scale={guidance_scale}."
        )
    check_float("guidance_rescale", guidance_rescale, min_value=0.0, max_value=1.0)
    check_float("eta", eta, min_value=0.0)
    check_int("seed", seed)
    batch_size = check_positive_int("batch_size", batch_size)
    scheduler = scheduler or dit_scheduler()
    n, size = labels.shape[0], int(np.prod(image_shape))
    null_labels = np.full_like(labels, null_class if null_class is not None else 0)

    def denoise(latent, timesteps, conditional):
        # The scheduler works on flat (n, h * w * c) latents; timesteps are (n,).
        images = latent.reshape((n,) + image_shape)
        chosen = labels if conditional else null_labels
        out = []
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            feed = {"latents": images[rows], "timesteps": timesteps[rows].astype("int32"), "class_labels": chosen[rows]}
            out.append(_np(_noise_output(model.predict_on_batch(feed))))
        return np.concatenate(out).reshape(n, size)

    x0 = scheduler.sample(
        denoise,
        (n, size),
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        guidance_rescale=guidance_rescale,
        clip_noise=np.inf,  # DiT does not clip its latents (the LCM clips them to +-100)
        eta=eta,
        rng=np.random.default_rng(seed),
        guide_first_step=True,
    )
    return x0.reshape((n,) + image_shape)


def sample_grid(model, classes, per_class: int = 8, out=None, scale: int = 4, value_range=(-1.0, 1.0), **kwargs):
    """Sample `per_class` images of each class and tile them (one row per class).

    Args:
        model: a built DiT.
        classes: ints: the classes, one grid row each (in this order).
        per_class: int. Images per class (columns). Defaults to `8`.
        out: str or None. Write the grid to this PNG path. Defaults to `None`.
        scale: int. Pixel repetition in the PNG. Defaults to `4`.
        value_range: `(low, high)` of the generated values, mapped to black
            and white. Defaults to `(-1, 1)`.
        **kwargs: `sample` arguments (`num_inference_steps`,
            `guidance_scale`, `seed`, `scheduler`, ...).

    Returns:
        `(images, grid)`: float32 `(len(classes) * per_class, h, w, c)` (row
        by row) and the uint8 grid `(rows, cols, c)`.
    """
    classes = [int(c) for c in classes]
    per_class = check_positive_int("per_class", per_class)
    if not classes:
        raise ValueError("`classes` must name at least one class. Received: classes=[].")
    labels = np.repeat(np.asarray(classes, "int32"), per_class)
    images = sample(model, labels, **kwargs)
    grid = image_grid(images, rows=len(classes), value_range=value_range)
    if out is not None:
        write_png(out, grid, scale=check_positive_int("scale", scale))
    return images, grid


def learned_log_variance(variance_interpolation, timesteps, scheduler) -> np.ndarray:
    """Per-pixel reverse-step log variance from a learned-sigma output (Improved DDPM, eq. 15).

    `log sigma^2 = f log(beta_t) + (1 - f) log(beta_tilde_t)`, `f = (v + 1) / 2`,
    with the posterior variance `beta_tilde_t = beta_t (1 - ab_{t-1}) / (1 - ab_t)`
    (its value at `t = 0` replaced by the one at `t = 1`, as the reference's
    clipped log does).

    Args:
        variance_interpolation: array `(b, ...)`: the model's `v` values.
        timesteps: ints `(b,)`.
        scheduler: `DDIMScheduler` (the training schedule).

    Returns:
        float32 array like `variance_interpolation`.
    """
    v = np.asarray(variance_interpolation, "float64")
    t = np.asarray(timesteps, "int64").reshape((-1,) + (1,) * (v.ndim - 1))
    betas = scheduler.betas.astype("float64")
    alphas_cumprod = scheduler.alphas_cumprod.astype("float64")
    previous = np.concatenate([[1.0], alphas_cumprod[:-1]])
    posterior = betas * (1.0 - previous) / (1.0 - alphas_cumprod)
    log_posterior = np.log(np.concatenate([posterior[1:2], posterior[1:]]))
    fraction = (v + 1.0) / 2.0
    return (fraction * np.log(betas)[t] + (1.0 - fraction) * log_posterior[t]).astype("float32")
