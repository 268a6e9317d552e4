"""The decoding loop in `keras.ops`: one prefill, then a `while_loop` of single-token steps over the KV cache.

Columns are the output buffer's positions (`0 .. total-1`); the cache slot of
a token is its column. Each sequence `b` has a prompt region `columns <
ends[b]` whose tokens are kept as given (teacher forcing: a right-padded
short prompt continues from its own end while longer prompts are still being
read); the columns after it are generated. The prefill reads columns `0 ..
start-1` (`start = min(ends)`) at once; step `t` then feeds column `t-1` and
fills column `t`, until every sequence is done or the buffer is full.
"""

import dataclasses
import functools
from typing import Optional

from keras import ops

from dlzoo.generation.sampling import greedy_tokens, sampled_tokens


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    """What fixes the traced program (shapes aside); everything else is a tensor argument.

    Attributes:
        start: int. Columns read by the prefill (the shortest prompt region).
        max_new_tokens: int. New tokens per sequence at most.
        do_sample: bool. Sample (else greedy).
        top_k: int or None. Top-k filtering when sampling.
        use_top_p: bool. Top-p filtering when sampling.
        return_scores: bool. Keep the raw logits of every step.
    """

    start: int
    max_new_tokens: int
    do_sample: bool = False
    top_k: Optional[int] = None
    use_top_p: bool = False
    return_scores: bool = False


def decode(lm, settings, buffer, in_prompt, key_mask, position_ids, ends, uniforms, temperature, top_p, stop_ids,
           pad_token_id, step=None):
    """Fill `buffer` after each prompt region; returns `(buffer, filled_columns, scores or None)`.

    Args:
        lm: a `CausalLM`.
        settings: `LoopSettings`.
        buffer: int32 `(batch, total)`: prompts in their columns, anything elsewhere.
        in_prompt: bool `(batch, total)`: `column < ends[b]`.
        key_mask: bool `(batch, total)`: real prompt tokens and every generated column.
        position_ids: int32 `(batch, total)`: position of each column's token.
        ends: int32 `(batch,)`: end of each prompt region.
        uniforms: float32 `(batch, total)`: the draw of each column when sampling.
        temperature, top_p: float32 scalars.
        stop_ids: int32 `(n,)`: stop tokens (`-1` for none).
        pad_token_id: int32 scalar: written after a sequence is done.
        step: callable or None. Replaces `decode_step(lm, settings, state, constants)` (e.g. a
            traced copy of it); `None` calls `decode_step`.
    """
    batch, total = ops.shape(buffer)[0], ops.shape(buffer)[1]
    start = settings.start
    constants = (in_prompt, key_mask, position_ids, ends, uniforms, temperature, top_p, stop_ids, pad_token_id)
    cache = lm.empty_cache(batch, total)
    logits, cache = lm.logits(buffer[:, :start], position_ids[:, :start], key_mask, cache, 0)
    scores = ops.zeros((batch, total, lm.vocabulary_size), "float32") if settings.return_scores else None
    done = ops.zeros((batch,), "bool")
    buffer, done, scores = choose(settings, logits[:, -1], start, buffer, done, scores, constants)
    column = ops.convert_to_tensor(start + 1, "int32")
    if step is None:
        step = functools.partial(decode_step, lm, settings)

    def keep_going(column, buffer, cache, done, *scores):
        return ops.logical_and(column < total, ops.logical_not(ops.all(done)))

    def body(*state):
        return tuple(step(tuple(state), constants))

    state = (column, buffer, cache, done) + ((scores,) if scores is not None else ())
    state = ops.while_loop(keep_going, body, state)
    return state[1], state[0], (state[4] if scores is not None else None)


def decode_step(lm, settings, state, constants):
    """One single-token step: feed column `column - 1` through the cache, fill column `column`.

    Args:
        state: `(column, buffer, cache, done)` plus `scores` with `return_scores`.
        constants: `(in_prompt, key_mask, position_ids, ends, uniforms, temperature, top_p, stop_ids,
            pad_token_id)`.

    Returns:
        The next state.
    """
    column, buffer, cache, done = state[:4]
    scores = state[4] if len(state) > 4 else None
    position_ids, key_mask = constants[2], constants[1]
    previous = column - 1
    token = ops.expand_dims(ops.take(buffer, previous, axis=1), 1)
    position = ops.expand_dims(ops.take(position_ids, previous, axis=1), 1)
    logits, cache = lm.logits(token, position, key_mask, cache, previous)
    buffer, done, scores = choose(settings, logits[:, 0], column, buffer, done, scores, constants)
    return (column + 1, buffer, cache, done) + ((scores,) if scores is not None else ())


def choose(settings, logits, column, buffer, done, scores, constants):
    """Write column `column`: the prompt's token inside a prompt region, else the chosen token (or padding).

    Returns the new `(buffer, done, scores)`; a row is done after a stop token
    or its `max_new_tokens`-th new token.
    """
    in_prompt, _, _, ends, uniforms, temperature, top_p, stop_ids, pad_token_id = constants
    if settings.do_sample:
        drawn = sampled_tokens(logits, ops.take(uniforms, column, axis=1), temperature,
                               top_k=settings.top_k, top_p=top_p if settings.use_top_p else None)
    else:
        drawn = greedy_tokens(logits)
    prompted = ops.take(in_prompt, column, axis=1)
    new = ops.logical_and(ops.logical_not(prompted), ops.logical_not(done))
    token = ops.where(prompted, ops.take(buffer, column, axis=1), ops.where(done, pad_token_id, drawn))
    token = ops.cast(token, "int32")
    stopped = ops.any(ops.expand_dims(token, 1) == ops.expand_dims(stop_ids, 0), axis=1)
    count = column - ends + 1
    done = ops.logical_or(done, ops.logical_and(new, ops.logical_or(stopped, count >= settings.max_new_tokens)))
    buffer = ops.slice_update(buffer, [0, column], ops.expand_dims(token, 1))
    if scores is not None:
        scores = ops.slice_update(scores, [0, column, 0], ops.expand_dims(logits, 1))
    return buffer, done, scores


__all__ = ["LoopSettings", "choose", "decode", "decode_step"]
