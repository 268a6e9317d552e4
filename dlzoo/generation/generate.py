"""`generate`: continue a batch of token-id prompts with a decoder LM (KV cache, compiled loop, sampling, stops)."""

import numpy as np

from keras import ops

from dlzoo.generation.causal_lm import CausalLM
from dlzoo.generation.compiled import decoding_program
from dlzoo.generation.decode_loop import LoopSettings
from dlzoo.validation import check_bool, check_float, check_int, check_positive_int


def generate(
    model,
    prompt_ids,
    padding_mask=None,
    max_new_tokens=32,
    max_length=None,
    do_sample=False,
    temperature=1.0,
    top_k=None,
    top_p=1.0,
    seed=None,
    stop_token_ids=None,
    pad_token_id=0,
    return_scores=False,
):
    """Continue token-id prompts with a `gpt` or `llama` model.

    The prompts are read at once into a KV cache (prefill), then one token
    per step is decoded from the cache by a loop compiled once per batch
    shape (`jax.jit` / `tf.function`; eager under `torch.inference_mode` on
    PyTorch). Prompts of a batch may be left-padded or right-padded (or
    both): `padding_mask` marks the real tokens, each sequence continues from
    its own last real token, and positions count from its first real token,
    so each row gets the continuation it would get alone.

    Args:
        model: a model of the `gpt` or `llama` family (`dlzoo.build`,
            `dlzoo.load`, or a Hugging Face checkpoint loaded by dlzoo).
        prompt_ids: int array `(batch, prompt_len)` or `(prompt_len,)`.
        padding_mask: bool array of the same shape, `True` for real tokens;
            every row needs one. Defaults to `None` (all real).
        max_new_tokens: int. New tokens per sequence at most. Defaults to `32`.
        max_length: int or None. Cap on the output width (prompt width
            included). Defaults to `None`.
        do_sample: bool. Sample from the (filtered) distribution; else
            greedy. Defaults to `False`.
        temperature: float > 0. Logits are divided by it when sampling.
            Defaults to `1.0`.
        top_k: int or None. Sample among the `top_k` most likely tokens.
            Defaults to `None` (all).
        top_p: float in `(0, 1]`. Sample among the most likely tokens whose
            probabilities first reach `top_p`. Defaults to `1.0` (all).
        seed: int or None. Seed of the draws; the same seed gives the same
            tokens on every backend. Defaults to `None` (fresh entropy).
        stop_token_ids: int, list of int or None. A sequence ends after
            generating one of them (the stop token is kept). Defaults to `None`.
        pad_token_id: int. Written after a sequence ends. Defaults to `0`.
        return_scores: bool. Also return the raw logits that chose each
            column. Defaults to `False`.

    Returns:
        int32 array `(batch, width)` (or `(width,)` for a 1-D prompt): the
        prompts as given, then the new tokens, with `pad_token_id` after a
        stop or a sequence's `max_new_tokens`; `width` ends at the last
        generated column. With `return_scores=True`, the tuple `(ids,
        scores)`, `scores` float32 `(batch, width, vocabulary)` where
        `scores[:, t]` are the logits computed from columns `< t` (zeros
        before the first generated column).

    Example:

    >>> model = dlzoo.build("gpt-tiny")
    >>> ids = dlzoo.generate(model, [[1, 2, 3]], max_new_tokens=4)
    >>> ids.shape
    (1, 7)
    """
    lm = CausalLM(model)
    given, mask, squeeze = _prompts(prompt_ids, padding_mask, lm.vocabulary_size)
    prompts = np.where(mask, given, 0).astype("int32")  # padding slots read token 0, never seen
    batch, width = prompts.shape
    max_new = check_positive_int("max_new_tokens", max_new_tokens)
    check_bool("do_sample", do_sample)
    temperature = check_float("temperature", temperature, min_value=0.0, min_inclusive=False)
    if top_k is not None:
        top_k = min(check_positive_int("top_k", top_k), lm.vocabulary_size)
    top_p = check_float("top_p", top_p, min_value=0.0, max_value=1.0, min_inclusive=False)
    if seed is not None:
        seed = check_int("seed", seed, min_value=0)
    stops = _stop_tokens(stop_token_ids, lm.vocabulary_size)
    pad_token_id = check_int("pad_token_id", pad_token_id)
    check_bool("return_scores", return_scores)

    ends = width - np.argmax(mask[:, ::-1], axis=1)  # one past each row's last real token
    total = int(ends.max()) + max_new
    if max_length is not None:
        max_length = check_positive_int("max_length", max_length)
        if max_length <= width:
            raise ValueError(
                "`max_length` counts the prompt width and must leave room for a new token. "
                f"Received: max_length={max_length} with prompts of width {width}."
            )
        total = min(total, max_length)
    total = max(total, width)
    columns = np.arange(total)[None, :]
    in_prompt = columns < ends[:, None]
    key_mask = np.ones((batch, total), bool)
    key_mask[:, :width] = np.where(in_prompt[:, :width], mask, True)
    position_ids = np.maximum(np.cumsum(key_mask, axis=1) - 1, 0).astype("int32")
    if lm.max_positions is not None and position_ids.max() >= lm.max_positions:
        raise ValueError(
            f"The model's learned position table has {lm.max_positions} rows, and these prompts reach position "
            f"{int(position_ids.max())}. Lower `max_new_tokens` or `max_length`. "
            f"Received: max_new_tokens={max_new_tokens}, max_length={max_length}."
        )
    buffer = np.full((batch, total), pad_token_id, "int32")
    buffer[:, :width] = prompts
    rng = np.random.default_rng(seed)
    uniforms = (1.0 - rng.random((batch, total))).astype("float32")  # in (0, 1]

    settings = LoopSettings(
        start=int(ends.min()),
        max_new_tokens=max_new,
        do_sample=bool(do_sample),
        top_k=top_k if do_sample else None,
        use_top_p=bool(do_sample and top_p < 1.0),
        return_scores=bool(return_scores),
    )
    program = decoding_program(model, lm, settings)
    arguments = [
        ops.convert_to_tensor(buffer, "int32"),
        ops.convert_to_tensor(in_prompt, "bool"),
        ops.convert_to_tensor(key_mask, "bool"),
        ops.convert_to_tensor(position_ids, "int32"),
        ops.convert_to_tensor(ends.astype("int32"), "int32"),
        ops.convert_to_tensor(uniforms, "float32"),
        ops.convert_to_tensor(np.float32(temperature), "float32"),
        ops.convert_to_tensor(np.float32(top_p), "float32"),
        ops.convert_to_tensor(stops, "int32"),
        ops.convert_to_tensor(np.int32(pad_token_id), "int32"),
    ]
    out, filled, scores = program(*arguments)
    filled = int(ops.convert_to_numpy(filled))
    ids = np.asarray(ops.convert_to_numpy(out), "int32")[:, :filled]
    prompt_region = in_prompt[:, :width]
    ids[:, :width] = np.where(prompt_region, given, ids[:, :width])  # prompts as given, padding included
    if squeeze:
        ids = ids[0]
    if not return_scores:
        return ids
    scores = np.asarray(ops.convert_to_numpy(scores), "float32")[:, :filled]
    return ids, (scores[0] if squeeze else scores)


def _prompts(prompt_ids, padding_mask, vocabulary_size):
    """int64 `(batch, width)` prompts as given, their bool mask, and whether the input was 1-D."""
    prompts = np.asarray(prompt_ids)
    if prompts.dtype.kind not in "iu" or prompts.ndim not in (1, 2) or prompts.size == 0:
        raise ValueError(
            "`prompt_ids` must be a non-empty integer array (batch, prompt_len) or (prompt_len,). "
            f"Received: prompt_ids with dtype {prompts.dtype} and shape {prompts.shape}."
        )
    squeeze = prompts.ndim == 1
    prompts = np.atleast_2d(prompts).astype("int64")
    if padding_mask is None:
        mask = np.ones(prompts.shape, bool)
    else:
        mask = np.atleast_2d(np.asarray(padding_mask)).astype(bool)
        if mask.shape != prompts.shape:
            raise ValueError(
                "`padding_mask` must have the shape of `prompt_ids`. "
                f"Received: padding_mask.shape={np.asarray(padding_mask).shape}, prompt_ids.shape={prompts.shape}."
            )
    if not mask.any(axis=1).all():
        raise ValueError(
            "Every prompt needs at least one real token. "
            f"Received: padding_mask with all-False rows {np.flatnonzero(~mask.any(axis=1)).tolist()}."
        )
    real = prompts[mask]
    if real.min() < 0 or real.max() >= vocabulary_size:
        raise ValueError(
            f"`prompt_ids` must be token ids in [0, {vocabulary_size}). "
            f"Received: prompt_ids from {int(real.min())} to {int(real.max())}."
        )
    return prompts, mask, squeeze


def _stop_tokens(stop_token_ids, vocabulary_size):
    """int32 array of stop tokens (`[-1]` for none)."""
    if stop_token_ids is None:
        return np.array([-1], "int32")
    values = [stop_token_ids] if np.ndim(stop_token_ids) == 0 else list(np.asarray(stop_token_ids).reshape(-1))
    for value in values:
        check_int("stop_token_ids", value, min_value=0, max_value=vocabulary_size - 1)
    return np.array(values or [-1], "int32")


__all__ = ["generate"]
