"""Autoregressive next-concept generation for Base-LCM and the Two-Tower diffusion LCM.

`generate(model, prompts, ...)` follows the reference generators (lcm.md 3.3,
4.6):

* prompts (raw encoder-space concepts) are normalized with the model's
  `EmbeddingNormalizer` (when given), predictions are de-normalized;
* **Base-LCM**: a KV-cached loop over the `decoder` stack. The common prompt
  prefix is prefilled at once, then one concept is fed per step; between the
  shortest and the longest prompt, positions are teacher-forced from the
  prompt. Optional latent noise `N(0, temperature^2)` in normalized space
  (`sample_latent=True`; off by default, as in the reference's evaluation);
* **Two-Tower**: the context tower is run incrementally with its own KV
  cache; each new concept is sampled by the `DDIMScheduler` loop
  (classifier-free guidance in epsilon space with rescale, initial noise
  scale, clipping) with the denoiser seeing the prepended zero key and every
  context state so far;
* stopping (per sequence, after `min_new_concepts`): cosine between the
  **de-normalized** prediction and the **raw** end-of-text embedding `>=
  eos_threshold` (0.9), the triggering concept being kept; or
  `max_new_concepts`.

All randomness (latent noise, initial diffusion latents) comes from a NumPy
generator seeded with `seed`, and every scheduler step runs in NumPy, so a
fixed seed gives the same concepts on TensorFlow, PyTorch and JAX up to float
tolerance.

`compiled=True` (the default) runs the per-step model work as programs
compiled once per backend and shapes (`dlzoo.generation.step_programs`, the
mechanism of the LM decoding loop): the Base-LCM single-concept KV-cached step,
the Two-Tower context-tower step and its denoiser call, with the conditional
and unconditional guidance branches batched into one call. The prompt is fed
through the same single-concept step (no program per prompt length) and the
cache length is rounded up to a power of two (masked slots), so a program is
reused across prompt lengths and `max_new_concepts`. The scheduler and the
random draws stay in NumPy: the concepts equal those of `compiled=False` (the
layer-by-layer path) within float tolerance.
"""

import dataclasses
from typing import Any, List

import numpy as np

import keras

from dlzoo.diffusion import DDIMScheduler
from dlzoo.generation.step_programs import StepProgram
from dlzoo.lcm.losses import DiffusionMSE, NextConceptMSE
from dlzoo.validation import check_bool, check_float, check_int, check_positive_int


@dataclasses.dataclass
class GenerationResult:
    """What `generate` returns.

    Attributes:
        concepts: list of float32 `(k_i, dim)` arrays: the generated concepts of
            each prompt, de-normalized (raw encoder space).
        normalized: list of float32 `(k_i, dim)` arrays: the same in the
            model's normalized space.
        stop_reasons: list of str: `"end_of_text"` or `"max_length"`.
    """

    concepts: List[np.ndarray]
    normalized: List[np.ndarray]
    stop_reasons: List[str]


def model_family(model) -> str:
    """`"base_lcm"` or `"two_tower_lcm"` for a built LCM (by its zoo config or its layer names)."""
    config = getattr(model, "zoo_config", None)
    if isinstance(config, dict) and config.get("model") in ("base_lcm", "two_tower_lcm"):
        return config["model"]
    names = {layer.name for layer in model.layers}
    if {"prenet", "decoder", "postnet"} <= names:
        return "base_lcm"
    if {"encoder_prenet", "encoder", "denoiser"} <= names:
        return "two_tower_lcm"
    raise ValueError(
        "`model` is not a Large Concept Model built by dlzoo (expected the layers prenet/decoder/postnet or "
        f"encoder_prenet/encoder/denoiser). Received: a model with layers {sorted(names)}."
    )


def loss_for(model):
    """The training loss of an LCM: `NextConceptMSE` (Base-LCM) or `DiffusionMSE` (Two-Tower)."""
    return NextConceptMSE() if model_family(model) == "base_lcm" else DiffusionMSE()


def _cosine(a, b):
    a = np.asarray(a, "float64")
    b = np.asarray(b, "float64")
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def _prompts(prompts) -> List[np.ndarray]:
    if isinstance(prompts, np.ndarray) and prompts.ndim == 2:
        prompts = [prompts]
    out = [np.asarray(p, dtype="float32") for p in prompts]
    if not out:
        raise ValueError("`prompts` must hold at least one prompt. Received: an empty list.")
    for p in out:
        if p.ndim != 2 or len(p) == 0:
            raise ValueError(
                "Each prompt must be a non-empty `(n, dim)` array of concepts. "
                f"Received: a prompt of shape {p.shape}."
            )
    dims = {p.shape[1] for p in out}
    if len(dims) != 1:
        raise ValueError(f"All prompts must have the same concept size. Received: sizes {sorted(dims)}.")
    return out


def generate(
    model,
    prompts,
    normalizer: Any = None,
    eot_embedding=None,
    max_new_concepts: int = 16,
    min_new_concepts: int = 1,
    eos_threshold: float = 0.9,
    seed: int = 0,
    sample_latent: bool = False,
    temperature: float = 1.0,
    scheduler: Any = None,
    num_inference_steps: int = 40,
    guidance_scale: float = 3.0,
    guidance_rescale: float = 0.7,
    initial_noise_scale: float = 0.6,
    clip_noise: float = 100.0,
    eta: float = 0.0,
    compiled: bool = True,
) -> GenerationResult:
    """Continue concept sequences with a Base-LCM or a Two-Tower LCM.

    Args:
        model: a model built by `dlzoo.build("lcm-base...")` or
            `dlzoo.build("lcm-two-tower...")` (or loaded from `.keras`).
        prompts: a `(n, dim)` array or a list of them: raw (encoder-space)
            concepts.
        normalizer: `EmbeddingNormalizer` or None. Maps prompts into the
            model's space and predictions back. Defaults to `None` (identity).
        eot_embedding: `(dim,)` raw embedding of the end-of-text sentence, or
            None (no end-of-text stopping). Defaults to `None`.
        max_new_concepts: int. Length cap per prompt. Defaults to `16`.
        min_new_concepts: int. No end-of-text stop before this many. Defaults to `1`.
        eos_threshold: float. Cosine threshold of the end-of-text stop. Defaults to `0.9`.
        seed: int. Seed of all sampling noise. Defaults to `0`.
        sample_latent: bool. Base-LCM: add `N(0, temperature^2)` noise to each
            prediction in normalized space. Defaults to `False`.
        temperature: float. Std of that noise. Defaults to `1.0`.
        scheduler: `DDIMScheduler` or None. Two-Tower: defaults to one built
            from the model's noising layer (same training schedule).
        num_inference_steps: int. Two-Tower: requested DDIM steps (the
            reference's trailing grid gives 50 steps for 40 with T=100).
            Defaults to `40`.
        guidance_scale: float. Two-Tower CFG weight. Defaults to `3.0` (the
            reference README's evaluation value; `1.0` disables guidance).
        guidance_rescale: float. Two-Tower guidance rescale. Defaults to `0.7`.
        initial_noise_scale: float. Two-Tower initial latent std. Defaults to `0.6`.
        clip_noise: float. Two-Tower latent clipping. Defaults to `100.0`.
        eta: float. Two-Tower DDIM eta. Defaults to `0.0`.
        compiled: bool. Run each step as a compiled program (see the module
            docstring); `False` calls the layers one by one. Defaults to `True`.

    Returns:
        A `GenerationResult`.
    """
    prompts = _prompts(prompts)
    max_new = check_positive_int("max_new_concepts", max_new_concepts)
    min_new = check_int("min_new_concepts", min_new_concepts, min_value=0)
    eos_threshold = check_float("eos_threshold", eos_threshold, min_value=-1.0, max_value=1.0)
    seed = check_int("seed", seed, min_value=0)
    check_bool("sample_latent", sample_latent)
    temperature = check_float("temperature", temperature, min_value=0.0)
    compiled = check_bool("compiled", compiled)
    if eot_embedding is not None:
        eot_embedding = np.asarray(eot_embedding, dtype="float32").reshape(-1)
    normalized = [np.asarray(normalizer.normalize(p), "float32") if normalizer is not None else p for p in prompts]
    rng = np.random.default_rng(seed)
    family = model_family(model)
    loop = _BaseLoop(model, compiled) if family == "base_lcm" else _TwoTowerLoop(
        model, scheduler, num_inference_steps, guidance_scale, guidance_rescale, initial_noise_scale, clip_noise, eta,
        compiled,
    )

    batch = len(normalized)
    lengths = [len(p) for p in normalized]
    total = max(lengths) + max_new
    dim = normalized[0].shape[1]
    buffer = np.zeros((batch, total, dim), dtype="float32")
    for b, p in enumerate(normalized):
        buffer[b, : len(p)] = p
    generated = [[] for _ in range(batch)]
    reasons = ["max_length"] * batch
    done = [False] * batch

    def accept(b, position, prediction):
        if done[b] or position < lengths[b]:
            return
        if sample_latent and family == "base_lcm" and temperature > 0:
            prediction = prediction + temperature * rng.standard_normal(prediction.shape).astype("float32")
        buffer[b, position] = prediction
        generated[b].append(prediction.copy())
        raw = normalizer.denormalize(prediction[None])[0] if normalizer is not None else prediction
        if eot_embedding is not None and len(generated[b]) >= max(min_new, 1) and _cosine(raw, eot_embedding) >= eos_threshold:
            done[b], reasons[b] = True, "end_of_text"
        elif len(generated[b]) >= max_new:
            done[b] = True

    loop.run(buffer, lengths, total, accept, lambda: all(done), rng)
    normalized_out = [np.stack(g) if g else np.zeros((0, dim), "float32") for g in generated]
    raw_out = [
        np.asarray(normalizer.denormalize(g), "float32") if (normalizer is not None and len(g)) else g
        for g in normalized_out
    ]
    return GenerationResult(concepts=raw_out, normalized=normalized_out, stop_reasons=reasons)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float32")


# Programs live on the model (attribute set past Keras' tracking), so they go with it.
_PROGRAMS_ATTRIBUTE = "_dlzoo_lcm_programs"


def step_program(model, name, layers, function):
    """The `StepProgram` of `function` for `model`, made once per name and set of weights, then reused."""
    programs = getattr(model, _PROGRAMS_ATTRIBUTE, None)
    if programs is None:
        programs = {}
        object.__setattr__(model, _PROGRAMS_ATTRIBUTE, programs)
    key = (name, tuple(id(variable) for layer in layers for variable in layer.variables))
    if key not in programs:
        programs[key] = StepProgram(function, layers)
    return programs[key]


def check_positions(prenet, total):
    """Raise the learned position table's error up front: the compiled step's tensor positions cannot be checked."""
    # The last concept is predicted, never fed: positions 0 .. total - 2 are read.
    if prenet.position == "learned" and total - 1 > prenet.max_sequence_length:
        raise ValueError(
            "The longest prompt plus `max_new_concepts` - 1 must fit the model's learned positions "
            f"(max_sequence_length={prenet.max_sequence_length}). Received: {total - 1} positions."
        )


def cache_length(total):
    """The KV cache (and context) length of the compiled path: `total` rounded up to a power of two, at least 16.

    Slots past the current position are masked, so the rounding changes no
    result; it lets one program serve many prompt lengths.
    """
    return max(16, 1 << (int(total) - 1).bit_length())


def _layer_caches(stack, batch, length):
    """An empty KV cache of `stack` as one tensor per layer (`TransformerStack.decode_layers`: no re-stacking per step)."""
    return tuple(keras.ops.unstack(stack.empty_cache(batch, length), axis=1))


class _BaseLoop:
    """KV-cached Base-LCM decoding: prefill the common prefix, then one concept per step."""

    def __init__(self, model, compiled=True):
        self.model = model
        self.compiled = compiled
        self.prenet = model.get_layer("prenet")
        self.decoder = model.get_layer("decoder")
        self.postnet = model.get_layer("postnet")

    def step(self, concept, position, layer_caches):
        """One concept `(batch, 1, dim)` at `position` through the per-layer caches: `(prediction (batch, dim), caches)`."""
        h = self.prenet(concept, start_index=position)
        y, layer_caches = self.decoder.decode_layers(h, layer_caches, position)
        return self.postnet(y)[:, 0], tuple(layer_caches)

    def run(self, buffer, lengths, total, accept, finished, rng):
        if not self.compiled:
            return self._run_layers(buffer, lengths, total, accept, finished)
        batch = buffer.shape[0]
        check_positions(self.prenet, total)
        step = step_program(self.model, "base_lcm_step", [self.prenet, self.decoder, self.postnet], self.step)
        cache = _layer_caches(self.decoder, batch, cache_length(total))
        start = min(lengths) - 1  # the prompt prefix: fed through the same step, predictions unused
        for position in range(total - 1):
            prediction, cache = step(buffer[:, position:position + 1], np.int32(position), cache)
            if position < start:
                continue
            prediction = _np(prediction)
            for b in range(batch):
                accept(b, position + 1, prediction[b])
            if finished():
                break

    def _run_layers(self, buffer, lengths, total, accept, finished):
        batch = buffer.shape[0]
        cache = self.decoder.empty_cache(batch, total)
        start = min(lengths) - 1  # positions < start are prefilled
        if start > 0:
            h = self.prenet(buffer[:, :start], start_index=0)
            _, cache = self.decoder(h, cache=cache, cache_update_index=0)
        for position in range(start, total - 1):
            h = self.prenet(buffer[:, position:position + 1], start_index=position)
            y, cache = self.decoder(h, cache=cache, cache_update_index=position)
            prediction = _np(self.postnet(y))[:, 0]
            for b in range(batch):
                accept(b, position + 1, prediction[b])
            if finished():
                break


class _TwoTowerLoop:
    """Incremental context encoding plus one DDIM sampling loop per new concept."""

    def __init__(self, model, scheduler, steps, guidance_scale, guidance_rescale, initial_noise_scale, clip_noise, eta,
                 compiled=False):
        self.model = model
        self.compiled = compiled
        self.prenet = model.get_layer("encoder_prenet")
        self.encoder = model.get_layer("encoder")
        self.denoiser = model.get_layer("denoiser")
        if scheduler is None:
            config = model.get_layer("noising").get_config()
            scheduler = DDIMScheduler(
                num_train_timesteps=config["num_train_timesteps"],
                beta_schedule=config["beta_schedule"],
                beta_start=config["beta_start"],
                beta_end=config["beta_end"],
                rescale_betas_zero_snr=config["rescale_betas_zero_snr"],
                prediction_type="sample",
            )
        self.scheduler = scheduler
        self.steps = check_positive_int("num_inference_steps", steps)
        self.guidance_scale = check_float("guidance_scale", guidance_scale, min_value=0.0)
        self.guidance_rescale = check_float("guidance_rescale", guidance_rescale, min_value=0.0, max_value=1.0)
        self.initial_noise_scale = check_float("initial_noise_scale", initial_noise_scale, min_value=0.0)
        self.clip_noise = check_float("clip_noise", clip_noise, min_value=0.0, min_inclusive=False)
        self.eta = check_float("eta", eta, min_value=0.0)

    def encode_step(self, concept, position, layer_caches):
        """One concept `(batch, 1, dim)` at `position` through the context tower: `(state (batch, d), caches)`."""
        h = self.prenet(concept, start_index=position)
        out, layer_caches = self.encoder.decode_layers(h, layer_caches, position)
        return out[:, 0], tuple(layer_caches)

    def denoise_pair(self, latent, timesteps, context, context_mask):
        """The conditional and unconditional (empty-context) denoiser outputs, in one batched call."""
        batch = keras.ops.shape(latent)[0]
        twice = lambda x: keras.ops.concatenate([x, x], axis=0)
        mask = keras.ops.concatenate([context_mask, keras.ops.zeros_like(context_mask)], axis=0)
        out = self.denoiser(twice(latent), timesteps=twice(timesteps), context=twice(context),
                            context_padding_mask=mask, causal=False)
        return out[:batch], out[batch:]

    def denoise(self, latent, timesteps, context, context_mask):
        """The conditional denoiser output alone (no guidance)."""
        return self.denoiser(latent, timesteps=timesteps, context=context, context_padding_mask=context_mask,
                             causal=False)

    def run(self, buffer, lengths, total, accept, finished, rng):
        if not self.compiled:
            return self._run_layers(buffer, lengths, total, accept, finished, rng)
        batch, _, dim = buffer.shape
        check_positions(self.prenet, total)
        layers = [self.prenet, self.encoder]
        encode = step_program(self.model, "two_tower_encoder_step", layers, self.encode_step)
        length = cache_length(total)
        cache = _layer_caches(self.encoder, batch, length)
        states = None  # (batch, length, d): context states, filled as concepts arrive
        first = min(lengths)
        for position in range(total):
            if position >= first:
                if not all(position < n for n in lengths):  # else every sequence is still teacher-forced here
                    prediction = self._sample_compiled(states, position, batch, dim, rng)
                    for b in range(batch):
                        accept(b, position, prediction[b])
                if finished() or position == total - 1:
                    break
            state, cache = encode(buffer[:, position:position + 1], np.int32(position), cache)
            state = _np(state)
            if states is None:
                states = np.zeros((batch, length, state.shape[-1]), dtype="float32")
            states[:, position] = state

    def _sample_compiled(self, states, position, batch, dim, rng):
        guided = self.guidance_scale != 1.0
        if guided:
            program = step_program(self.model, "two_tower_denoise_pair", [self.denoiser], self.denoise_pair)
        else:
            program = step_program(self.model, "two_tower_denoise", [self.denoiser], self.denoise)
        context = keras.ops.convert_to_tensor(states)
        mask = np.zeros((batch, states.shape[1]), dtype=bool)
        mask[:, :position] = True
        mask = keras.ops.convert_to_tensor(mask)
        pending = {}  # the unconditional output of the last batched call

        def denoise_fn(latent, timesteps, conditional):
            # `DDIMScheduler.sample` asks for the conditional output, then for the unconditional one of the
            # same latent: one batched call answers both.
            if not conditional:
                assert pending.get("latent") is latent, "the unconditional call must follow its conditional call"
                return _np(pending.pop("uncond"))
            if not guided:
                return _np(program(latent, timesteps.astype("int32"), context, mask))
            cond, uncond = program(latent, timesteps.astype("int32"), context, mask)
            pending.update(latent=latent, uncond=uncond)
            return _np(cond)

        x0 = self.scheduler.sample(
            denoise_fn, (batch, 1, dim), num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
            guidance_rescale=self.guidance_rescale, initial_noise_scale=self.initial_noise_scale,
            clip_noise=self.clip_noise, eta=self.eta, rng=rng,
        )
        return x0[:, 0]

    def _run_layers(self, buffer, lengths, total, accept, finished, rng):
        batch, _, dim = buffer.shape
        cache = self.encoder.empty_cache(batch, total)
        states = None  # (batch, total, d): context states, filled as concepts arrive
        first = min(lengths)
        h = self.prenet(buffer[:, :first], start_index=0)
        out, cache = self.encoder(h, cache=cache, cache_update_index=0)
        out = _np(out)
        states = np.zeros((batch, total, out.shape[-1]), dtype="float32")
        states[:, :first] = out
        for position in range(first, total):
            if all(position < n for n in lengths):
                prediction = None  # every sequence is still teacher-forced here
            else:
                prediction = self._sample(states, position, batch, dim, rng)
            for b in range(batch):
                if prediction is not None:
                    accept(b, position, prediction[b])
            if finished() or position == total - 1:
                break
            h = self.prenet(buffer[:, position:position + 1], start_index=position)
            out, cache = self.encoder(h, cache=cache, cache_update_index=position)
            states[:, position] = _np(out)[:, 0]

    def _sample(self, states, position, batch, dim, rng):
        # The latent at `position` sees the zero key and the states 0..position-1. Padding
        # the context to a fixed length keeps shapes constant across steps and positions,
        # so the compiled denoiser is traced once.
        cond_mask = np.zeros((batch, states.shape[1]), dtype=bool)
        cond_mask[:, :position] = True
        x0 = sample_concepts(
            self.denoiser, self.scheduler, states, cond_mask, (batch, 1, dim), causal=False, rng=rng,
            num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
            guidance_rescale=self.guidance_rescale, initial_noise_scale=self.initial_noise_scale,
            clip_noise=self.clip_noise, eta=self.eta,
        )
        return x0[:, 0]


_DENOISE_MODELS = {}


def _denoise_model(denoiser, causal):
    """A functional model around `denoiser` (shared weights) for compiled `predict_on_batch` calls."""
    key = (id(denoiser), bool(causal))
    cached = _DENOISE_MODELS.get(key)
    if cached is not None and cached[0] is denoiser:
        return cached[1]
    dim = denoiser.final_proj.units
    context_dim = denoiser.stack.transformer_layers[0].cross_attention.key_dense.kernel.shape[0]
    noisy = keras.Input((None, dim), name="noisy")
    timesteps = keras.Input((None,), dtype="int32", name="timesteps")
    context = keras.Input((None, context_dim), name="context")
    context_mask = keras.Input((None,), dtype="bool", name="context_padding_mask")
    out = denoiser(noisy, timesteps=timesteps, context=context, context_padding_mask=context_mask, causal=causal)
    model = keras.Model([noisy, timesteps, context, context_mask], out)
    _DENOISE_MODELS[key] = (denoiser, model)
    return model


def sample_concepts(denoiser, scheduler, context, context_mask, shape, causal, rng, num_inference_steps=40,
                    guidance_scale=3.0, guidance_rescale=0.7, initial_noise_scale=0.6, clip_noise=100.0, eta=0.0):
    """Run the DDIM loop with an `LCMDenoiser` over a fixed context; returns x0 of `shape`.

    With `causal=True` every position of a `(batch, n, dim)` latent is denoised
    at once, row `i` seeing the context states `< i` (teacher forcing, as in
    training); with `causal=False` each row sees every unmasked context state.
    The unconditional branch of classifier-free guidance masks the whole
    context, so only the prepended zero key is visible.
    """
    model = _denoise_model(denoiser, causal)
    context = np.asarray(context, "float32")
    cond_mask = np.asarray(context_mask, bool)
    uncond_mask = np.zeros_like(cond_mask)

    def denoise(latent, timesteps, conditional):
        feed = [latent, timesteps.astype("int32"), context, cond_mask if conditional else uncond_mask]
        return _np(model.predict_on_batch(feed))

    return scheduler.sample(
        denoise, shape, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
        guidance_rescale=guidance_rescale, initial_noise_scale=initial_noise_scale, clip_noise=clip_noise,
        eta=eta, rng=rng,
    )


def predict_next_concepts(model, embeddings, padding_mask, seed=0, scheduler=None, num_inference_steps=40,
                          guidance_scale=3.0, guidance_rescale=0.7, initial_noise_scale=0.6, clip_noise=100.0):
    """Teacher-forced next-concept predictions at every position, for evaluation.

    Args:
        model: a Base-LCM or Two-Tower LCM.
        embeddings: float32 `(batch, n, dim)` normalized concepts.
        padding_mask: bool `(batch, n)`.
        seed: int. Seed of the Two-Tower initial latents. Defaults to `0`.
        scheduler, num_inference_steps, guidance_scale, guidance_rescale,
            initial_noise_scale, clip_noise: Two-Tower sampling settings (see `generate`).

    Returns:
        float32 `(batch, n, dim)` in normalized space: entry `[:, t]` is the
        model's estimate of concept `t` from concepts `< t` (entry 0 is zero
        for Base-LCM, the unconditional sample for the Two-Tower model).
    """
    embeddings = np.asarray(embeddings, "float32")
    padding_mask = np.asarray(padding_mask, bool)
    out = np.zeros_like(embeddings)
    if model_family(model) == "base_lcm":
        outputs = _np(model.predict_on_batch({"embeddings": embeddings, "padding_mask": padding_mask}))
        out[:, 1:] = outputs[:, :-1]
        return out
    loop = _TwoTowerLoop(model, scheduler, num_inference_steps, guidance_scale, guidance_rescale,
                         initial_noise_scale, clip_noise, 0.0)
    states = _np(_encoder_model(model).predict_on_batch({"embeddings": embeddings, "padding_mask": padding_mask}))
    return sample_concepts(
        loop.denoiser, loop.scheduler, states, padding_mask, embeddings.shape, causal=True,
        rng=np.random.default_rng(seed), num_inference_steps=loop.steps, guidance_scale=loop.guidance_scale,
        guidance_rescale=loop.guidance_rescale, initial_noise_scale=loop.initial_noise_scale,
        clip_noise=loop.clip_noise,
    )


def _encoder_model(model):
    """The context tower of a Two-Tower LCM as a functional model (shared weights)."""
    prenet, encoder = model.get_layer("encoder_prenet"), model.get_layer("encoder")
    embeddings = keras.Input((None, prenet.projection.kernel.shape[0]), name="embeddings")
    mask = keras.Input((None,), dtype="bool", name="padding_mask")
    states = encoder(prenet(embeddings), padding_mask=mask)
    return keras.Model({"embeddings": embeddings, "padding_mask": mask}, states)


__all__ = ["GenerationResult", "generate", "loss_for", "model_family", "predict_next_concepts", "sample_concepts"]
