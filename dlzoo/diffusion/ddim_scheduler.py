"""DDIM noise scheduler of the Two-Tower Large Concept Model, in NumPy.

The schedule (betas, cumulative alphas) and every sampling step are computed
in NumPy float32 on the host, so a fixed seed gives the same numbers on every
Keras backend; the model calls in between run on the backend. The Keras
training graph reads the same `alphas_cumprod` table (see
`dlzoo.blocks.lcm.DiffusionNoising`).

Behaviour reproduced from the reference (lcm.md section 4.5-4.6, itself the
diffusers `DDIMScheduler` that fairseq2 LCM wraps):

* `beta_schedule="squaredcos_cap_v2"`: the cosine schedule of Nichol and
  Dhariwal (2021), `alpha_bar(t) = cos(((t + 0.008) / 1.008) * pi / 2) ** 2`,
  `beta_i = min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999)`;
* `rescale_betas_zero_snr=True` (Lin et al., 2023, Alg. 1): `sqrt(alpha_bar)`
  is shifted so its last value is 0 and rescaled to keep the first one, so
  the last training step is pure noise (`alphas_cumprod[T - 1] == 0`);
* `timestep_spacing="trailing"` **with the reference's truncation quirk**: the
  grid is built with an integer `arange`, so a fractional stride `T / S` is
  truncated to `k = floor(T / S)` and the grid has `ceil(T / k)` steps
  (`T=100, S=40` gives 50 steps 99, 97, ..., 1, not 40). Set
  `reproduce_step_quirk=False` for the intended grid
  `round(arange(T, 0, -T / S)) - 1` with exactly `S` steps;
* `prediction_type` `"sample"` (x0, the LCM's), `"epsilon"` or
  `"v_prediction"`; optional x0 clipping or dynamic thresholding;
* classifier-free guidance in epsilon space with guidance rescale
  (`guided_epsilon`), the initial noise scale and `clip_noise` clipping are
  applied by `sample` (used by `dlzoo.lcm.generation`).

The DiT (`dlzoo.dit`) uses the same scheduler with its own settings: linear
betas `1e-4 .. 0.02` over `T = 1000`, no zero-SNR rescale, epsilon
prediction, and guidance from the first step (`sample(...,
guide_first_step=True)`).
"""

import json
import math
from typing import Any, Callable, Dict, Optional

import numpy as np

from dlzoo.validation import check_bool, check_choice, check_float, check_positive_int

BETA_SCHEDULES = ("squaredcos_cap_v2", "linear", "scaled_linear")
PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")
TIMESTEP_SPACINGS = ("trailing", "leading", "linspace")


def betas_for_alpha_bar(num_steps: int, max_beta: float = 0.999) -> np.ndarray:
    """Cosine ("squaredcos_cap_v2") betas: float64 arithmetic, float32 result.

    Args:
        num_steps: int. Number of training timesteps `T`.
        max_beta: float. Upper clip of each beta. Defaults to `0.999`.

    Returns:
        float32 array `(T,)`.
    """

    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta) for i in range(num_steps)]
    return np.asarray(betas, dtype="float32")


def rescale_zero_terminal_snr(betas: np.ndarray) -> np.ndarray:
    """Rescale betas to zero terminal SNR (Lin et al., 2023, Algorithm 1), in float32.

    `sqrt(alpha_bar)` is shifted so its last entry is 0 and scaled so its first
    entry is unchanged; betas are recovered from the new cumulative product.
    """
    betas = np.asarray(betas, dtype="float32")
    alphas = np.float32(1.0) - betas
    alphas_bar_sqrt = np.sqrt(np.cumprod(alphas, dtype="float32"))
    first = alphas_bar_sqrt[0].copy()
    last = alphas_bar_sqrt[-1].copy()
    alphas_bar_sqrt = alphas_bar_sqrt - last
    alphas_bar_sqrt = alphas_bar_sqrt * (first / (first - last))
    alphas_bar = alphas_bar_sqrt**2
    alphas = np.concatenate([alphas_bar[:1], alphas_bar[1:] / alphas_bar[:-1]]).astype("float32")
    return (np.float32(1.0) - alphas).astype("float32")


def guided_epsilon(eps_cond, eps_uncond, guidance_scale: float, guidance_rescale: float = 0.0) -> np.ndarray:
    """Classifier-free guidance in epsilon space, with guidance rescale.

    `eps = eps_u + w * (eps_c - eps_u)`; with `guidance_rescale = phi > 0`
    (Lin et al., 2023, Algorithm 2) it is multiplied by
    `phi * std(eps_c) / std(eps) + (1 - phi)`, the standard deviations taken
    over the feature (last) axis with Bessel's correction (unbiased), as the
    reference does with `torch.std`.

    Args:
        eps_cond: array `(..., dim)`. Conditional noise estimate.
        eps_uncond: array `(..., dim)`. Unconditional noise estimate.
        guidance_scale: float. `w`; `1.0` returns `eps_cond`.
        guidance_rescale: float. `phi` in [0, 1]. Defaults to `0.0`.

    Returns:
        float32 array like `eps_cond`.
    """
    eps_cond = np.asarray(eps_cond, dtype="float32")
    eps_uncond = np.asarray(eps_uncond, dtype="float32")
    eps = eps_uncond + np.float32(guidance_scale) * (eps_cond - eps_uncond)
    if guidance_rescale > 0:
        std_cond = np.std(eps_cond, axis=-1, keepdims=True, ddof=1)
        std_guided = np.std(eps, axis=-1, keepdims=True, ddof=1)
        factor = guidance_rescale * std_cond / std_guided + (1.0 - guidance_rescale)
        eps = eps * factor
    return eps.astype("float32")


class DDIMScheduler:
    """DDIM scheduler (Song et al., 2021) with the Two-Tower LCM's settings.

    Holds the training noise schedule (`betas`, `alphas_cumprod`), the
    inference timestep grid and the DDIM update. Everything is NumPy float32;
    the object is plain data (`get_config` / `from_config`, JSON).

    Args:
        num_train_timesteps: int. `T`. Defaults to `1000` (the reference
            default; the 1.6B/7B Two-Tower models use `100`).
        beta_schedule: str. `"squaredcos_cap_v2"` (cosine), `"linear"` or
            `"scaled_linear"`. Defaults to `"squaredcos_cap_v2"`.
        beta_start: float. First beta of the linear schedules. Defaults to `1e-4`.
        beta_end: float. Last beta of the linear schedules. Defaults to `0.02`.
        rescale_betas_zero_snr: bool. Zero terminal SNR. Defaults to `True`.
        prediction_type: str. What the model predicts: `"sample"` (x0),
            `"epsilon"` or `"v_prediction"`. Defaults to `"sample"`.
        clip_sample: bool. Clip the predicted x0 to `+-clip_sample_range`.
            Defaults to `False`.
        clip_sample_range: float. Defaults to `1.0`.
        thresholding: bool. Dynamic thresholding of x0 (Saharia et al.,
            2022). Defaults to `False`.
        dynamic_thresholding_ratio: float. Quantile of `|x0|`. Defaults to `0.995`.
        sample_max_value: float. Upper bound of the threshold. Defaults to `1.0`.
        set_alpha_to_one: bool. `alpha_bar_prev = 1` past the last step.
            Defaults to `True`.
        timestep_spacing: str. `"trailing"` (the reference), `"leading"` or
            `"linspace"`. Defaults to `"trailing"`.
        reproduce_step_quirk: bool. Build the trailing grid with the
            reference's integer stride (see the module docstring). Defaults to
            `True`.

    Example:

    >>> scheduler = DDIMScheduler(num_train_timesteps=100)
    >>> scheduler.timesteps_for(40)[:3].tolist(), len(scheduler.timesteps_for(40))
    ([99, 97, 95], 50)

    Reference:
        - [Song et al., 2021. Denoising Diffusion Implicit Models](https://arxiv.org/abs/2010.02502)
        - [Nichol and Dhariwal, 2021. Improved DDPM](https://arxiv.org/abs/2102.09672) (cosine schedule)
        - [Lin et al., 2023. Common Diffusion Noise Schedules and Sample Steps are Flawed](https://arxiv.org/abs/2305.08891)
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3 (lcm.md 4.5-4.6)
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "squaredcos_cap_v2",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        rescale_betas_zero_snr: bool = True,
        prediction_type: str = "sample",
        clip_sample: bool = False,
        clip_sample_range: float = 1.0,
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        sample_max_value: float = 1.0,
        set_alpha_to_one: bool = True,
        timestep_spacing: str = "trailing",
        reproduce_step_quirk: bool = True,
    ):
        self.num_train_timesteps = check_positive_int("num_train_timesteps", num_train_timesteps)
        if self.num_train_timesteps < 2:
            raise ValueError(f"`num_train_timesteps` must be >= 2. Received: num_train_timesteps={num_train_timesteps}.")
        self.beta_schedule = check_choice("beta_schedule", beta_schedule, BETA_SCHEDULES)
        self.beta_start = check_float("beta_start", beta_start, min_value=0.0, max_value=1.0)
        self.beta_end = check_float("beta_end", beta_end, min_value=0.0, max_value=1.0)
        self.rescale_betas_zero_snr = check_bool("rescale_betas_zero_snr", rescale_betas_zero_snr)
        self.prediction_type = check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
        self.clip_sample = check_bool("clip_sample", clip_sample)
        self.clip_sample_range = check_float("clip_sample_range", clip_sample_range, min_value=0.0, min_inclusive=False)
        self.thresholding = check_bool("thresholding", thresholding)
        self.dynamic_thresholding_ratio = check_float(
            "dynamic_thresholding_ratio", dynamic_thresholding_ratio, min_value=0.0, max_value=1.0, min_inclusive=False
        )
        self.sample_max_value = check_float("sample_max_value", sample_max_value, min_value=0.0, min_inclusive=False)
        self.set_alpha_to_one = check_bool("set_alpha_to_one", set_alpha_to_one)
        self.timestep_spacing = check_choice("timestep_spacing", timestep_spacing, TIMESTEP_SPACINGS)
        self.reproduce_step_quirk = check_bool("reproduce_step_quirk", reproduce_step_quirk)

        T = self.num_train_timesteps
        if self.beta_schedule == "squaredcos_cap_v2":
            betas = betas_for_alpha_bar(T)
        elif self.beta_schedule == "linear":
            betas = np.linspace(self.beta_start, self.beta_end, T, dtype="float32")
        else:
            betas = (np.linspace(self.beta_start**0.5, self.beta_end**0.5, T, dtype="float32") ** 2).astype("float32")
        if self.rescale_betas_zero_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.betas = betas.astype("float32")
        self.alphas = (np.float32(1.0) - self.betas).astype("float32")
        self.alphas_cumprod = np.cumprod(self.alphas, dtype="float32")
        self.final_alpha_cumprod = np.float32(1.0) if self.set_alpha_to_one else self.alphas_cumprod[0]
        self.init_noise_sigma = 1.0

    # ------------------------------------------------------------- timesteps
    def step_stride(self, num_inference_steps: int) -> int:
        """Distance between consecutive inference timesteps (`prev_t = t - stride`)."""
        num_inference_steps = self._check_steps(num_inference_steps)
        return self.num_train_timesteps // num_inference_steps

    def timesteps_for(self, num_inference_steps: int) -> np.ndarray:
        """The inference timesteps, descending (int64).

        For `"trailing"` with `reproduce_step_quirk=True`, the reference's
        `arange(T, 0, -int(T / S)) - 1`; with the quirk off,
        `round(arange(T, 0, -T / S)) - 1` (exactly `S` steps).
        """
        S = self._check_steps(num_inference_steps)
        T = self.num_train_timesteps
        if self.timestep_spacing == "trailing":
            if self.reproduce_step_quirk:
                stride = T // S
                timesteps = np.arange(T, 0, -stride, dtype="int64") - 1
            else:
                timesteps = np.round(np.arange(T, 0, -T / S)).astype("int64") - 1
        elif self.timestep_spacing == "leading":
            stride = T // S
            timesteps = (np.arange(0, S) * stride).round()[::-1].astype("int64")
        else:
            timesteps = np.linspace(0, T - 1, S).round()[::-1].astype("int64")
        return timesteps

    def previous_timestep(self, timestep: int, num_inference_steps: int) -> int:
        """`t - floor(T / S)` (negative past the last step)."""
        return int(timestep) - self.step_stride(num_inference_steps)

    def _check_steps(self, num_inference_steps):
        steps = check_positive_int("num_inference_steps", num_inference_steps)
        if steps > self.num_train_timesteps:
            raise ValueError(
                "`num_inference_steps` must not exceed `num_train_timesteps`. "
                f"Received: num_inference_steps={steps}, num_train_timesteps={self.num_train_timesteps}."
            )
        return steps

    def alpha_bar(self, timestep: int) -> np.float32:
        """`alphas_cumprod[t]`, or `final_alpha_cumprod` for `t < 0`."""
        return self.alphas_cumprod[int(timestep)] if int(timestep) >= 0 else self.final_alpha_cumprod

    # --------------------------------------------------------------- forward
    def add_noise(self, x0, noise, timesteps) -> np.ndarray:
        """`x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise` (broadcast over the last axis)."""
        ab = self.alphas_cumprod[np.asarray(timesteps, dtype="int64")][..., None]
        return (np.sqrt(ab) * np.asarray(x0, "float32") + np.sqrt(1 - ab) * np.asarray(noise, "float32")).astype(
            "float32"
        )

    def training_target(self, x0, noise, timesteps) -> np.ndarray:
        """The regression target for the configured `prediction_type`."""
        if self.prediction_type == "sample":
            return np.asarray(x0, "float32")
        if self.prediction_type == "epsilon":
            return np.asarray(noise, "float32")
        ab = self.alphas_cumprod[np.asarray(timesteps, dtype="int64")][..., None]
        return (np.sqrt(ab) * noise - np.sqrt(1 - ab) * x0).astype("float32")

    # ------------------------------------------------------------- reverse
    def convert_output(self, model_output, timestep: int, sample, prediction_type: Optional[str] = None):
        """`(x0_hat, eps_hat)` from a model output of the given parametrization."""
        prediction_type = check_choice("prediction_type", prediction_type or self.prediction_type, PREDICTION_TYPES)
        out = np.asarray(model_output, "float32")
        x = np.asarray(sample, "float32")
        ab = np.float32(self.alpha_bar(timestep))
        b = np.float32(1.0) - ab
        if prediction_type == "sample":
            x0 = out
            eps = (x - np.sqrt(ab) * x0) / np.sqrt(b)
        elif prediction_type == "epsilon":
            eps = out
            with np.errstate(divide="ignore", invalid="ignore"):
                x0 = (x - np.sqrt(b) * eps) / np.sqrt(ab)
        else:
            x0 = np.sqrt(ab) * x - np.sqrt(b) * out
            eps = np.sqrt(ab) * out + np.sqrt(b) * x
        return x0.astype("float32"), eps.astype("float32")

    def _threshold(self, x0):
        flat = np.abs(x0).reshape(x0.shape[0], -1) if x0.ndim > 1 else np.abs(x0)[None]
        s = np.quantile(flat, self.dynamic_thresholding_ratio, axis=1)
        s = np.clip(s, 1.0, self.sample_max_value).reshape((-1,) + (1,) * (x0.ndim - 1))
        return (np.clip(x0, -s, s) / s).astype("float32")

    def step(
        self,
        model_output,
        timestep: int,
        sample,
        num_inference_steps: int,
        prediction_type: Optional[str] = None,
        eta: float = 0.0,
        epsilon_scaling: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ):
        """One DDIM update `x_t -> x_{t - stride}`.

        `x_prev = sqrt(ab_prev) * x0 + sqrt(1 - ab_prev - sigma^2) * eps + sigma * z`
        with `sigma = eta * sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))`.

        Args:
            model_output: array. The model's prediction (x0, eps or v).
            timestep: int. Current timestep `t`.
            sample: array. `x_t`.
            num_inference_steps: int. `S` (fixes the stride).
            prediction_type: str. Overrides the scheduler's. Defaults to `None`.
            eta: float. DDIM stochasticity (0 = deterministic). Defaults to `0.0`.
            epsilon_scaling: float or None. Divide eps by it. Defaults to `None`.
            rng: NumPy generator for `eta > 0`. Defaults to `None`.

        Returns:
            `(prev_sample, pred_original_sample)` float32 arrays.
        """
        prev_t = self.previous_timestep(timestep, num_inference_steps)
        ab_t = np.float32(self.alpha_bar(timestep))
        ab_prev = np.float32(self.alpha_bar(prev_t))
        x0, eps = self.convert_output(model_output, timestep, sample, prediction_type)
        if self.thresholding:
            x0 = self._threshold(x0)
        elif self.clip_sample:
            x0 = np.clip(x0, -self.clip_sample_range, self.clip_sample_range)
        if epsilon_scaling is not None:
            eps = eps / np.float32(epsilon_scaling)
        variance = (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev) if ab_t < 1 else np.float32(0.0)
        sigma = np.float32(eta) * np.sqrt(np.float32(max(variance, 0.0)))
        direction = np.sqrt(np.float32(max(1 - ab_prev - sigma**2, 0.0))) * eps
        prev = np.sqrt(ab_prev) * x0 + direction
        if eta > 0:
            rng = rng or np.random.default_rng()
            prev = prev + sigma * rng.standard_normal(prev.shape).astype("float32")
        return prev.astype("float32"), x0.astype("float32")

    def sample(
        self,
        denoise_fn: Callable[[np.ndarray, np.ndarray, bool], np.ndarray],
        shape,
        num_inference_steps: int = 40,
        guidance_scale: float = 1.0,
        guidance_rescale: float = 0.0,
        initial_noise_scale: float = 1.0,
        clip_noise: float = 100.0,
        eta: float = 0.0,
        epsilon_scaling: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
        guide_first_step: bool = False,
    ) -> np.ndarray:
        """The reference's sampling loop (lcm.md 4.6); returns the last step's x0.

        Args:
            denoise_fn: `f(x_t, timesteps, conditional) -> model output` where
                `timesteps` is an int array of `shape[:-1]`; `conditional=False`
                asks for the unconditional (empty-context) prediction.
            shape: tuple. Shape of the latent, e.g. `(batch, 1, dim)`.
            num_inference_steps: int. Requested steps `S`. Defaults to `40`.
            guidance_scale: float. CFG weight `w` (`1.0`: no guidance).
            guidance_rescale: float. Guidance rescale `phi`. Defaults to `0.0`.
            initial_noise_scale: float. Std of the initial latent. Defaults to `1.0`.
            clip_noise: float. Latents are clipped to `+-clip_noise`. Defaults to `100.0`.
            eta: float. DDIM eta. Defaults to `0.0`.
            epsilon_scaling: float or None. Defaults to `None`.
            rng: NumPy generator (initial noise; eta noise). Defaults to a fresh one.
            guide_first_step: bool. Apply guidance at the first timestep too
                (DiT, whose schedule keeps `alpha_bar > 0` there). `False`
                is the LCM reference: the first step (`t = T - 1`, where the
                zero-terminal-SNR schedule leaves epsilon undefined) steps the
                conditional output alone, read as x0. Defaults to `False`.

        Returns:
            float32 array `shape`: the x0 predicted at the last step.
        """
        check_bool("guide_first_step", guide_first_step)
        rng = rng or np.random.default_rng()
        latent = rng.standard_normal(shape).astype("float32") * np.float32(initial_noise_scale)
        latent = np.clip(latent, -clip_noise, clip_noise)
        x0 = latent
        guided = guidance_scale != 1.0
        unguided = None if guide_first_step else self.num_train_timesteps - 1
        for t in self.timesteps_for(num_inference_steps):
            t = int(t)
            steps = np.full(shape[:-1], t, dtype="int32")
            out_cond = np.asarray(denoise_fn(latent, steps, True), "float32")
            if guided and t != unguided:
                out_uncond = np.asarray(denoise_fn(latent, steps, False), "float32")
                _, eps_c = self.convert_output(out_cond, t, latent)
                _, eps_u = self.convert_output(out_uncond, t, latent)
                eps = guided_epsilon(eps_c, eps_u, guidance_scale, guidance_rescale)
                latent, x0 = self.step(eps, t, latent, num_inference_steps, "epsilon", eta, epsilon_scaling, rng)
            else:
                # The reference bypasses guidance at t = T - 1 (alpha_bar = 0: eps-space
                # conversion would divide by zero) and steps the conditional output as is.
                kind = "sample" if guided else None
                latent, x0 = self.step(out_cond, t, latent, num_inference_steps, kind, eta, epsilon_scaling, rng)
            latent = np.clip(latent, -clip_noise, clip_noise)
        return x0

    # -------------------------------------------------------------- config
    def get_config(self) -> Dict[str, Any]:
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_schedule": self.beta_schedule,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "rescale_betas_zero_snr": self.rescale_betas_zero_snr,
            "prediction_type": self.prediction_type,
            "clip_sample": self.clip_sample,
            "clip_sample_range": self.clip_sample_range,
            "thresholding": self.thresholding,
            "dynamic_thresholding_ratio": self.dynamic_thresholding_ratio,
            "sample_max_value": self.sample_max_value,
            "set_alpha_to_one": self.set_alpha_to_one,
            "timestep_spacing": self.timestep_spacing,
            "reproduce_step_quirk": self.reproduce_step_quirk,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "DDIMScheduler":
        return cls(**config)

    def to_json(self) -> str:
        return json.dumps(self.get_config(), sort_keys=True)

    def __repr__(self):
        return (
            f"DDIMScheduler(num_train_timesteps={self.num_train_timesteps}, beta_schedule={self.beta_schedule!r}, "
            f"rescale_betas_zero_snr={self.rescale_betas_zero_snr}, prediction_type={self.prediction_type!r})"
        )
