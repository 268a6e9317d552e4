"""The pieces of a built decoder LM that KV-cached decoding calls directly, without the functional graph."""

from keras import ops

# Families whose plan is `decoder_plan` (token embedding, optional learned positions, a causal
# `transformer_stack` named "decoder", a tied or untied LM head).
CAUSAL_LM_FAMILIES = ("gpt", "llama")


class CausalLM:
    """A decoder LM's layers (shared, not copied) and one forward step over a KV cache.

    Args:
        model: a `ZooModel` of a family in `CAUSAL_LM_FAMILIES` that outputs
            vocabulary logits (`use_lm_head=True`), or one loaded from a
            `.keras` file or a Hugging Face checkpoint.

    Raises:
        ValueError: naming `model` when it is not such a decoder LM.
    """

    def __init__(self, model):
        config = getattr(model, "zoo_config", None)
        family = config.get("model") if isinstance(config, dict) else None
        if family not in CAUSAL_LM_FAMILIES:
            raise ValueError(
                f"`model` must be a decoder language model of the families {list(CAUSAL_LM_FAMILIES)} built by "
                f"dlzoo. Received: model={getattr(model, 'name', type(model).__name__)!r} (family {family!r})."
            )
        params = config.get("params", {})
        if not params.get("use_lm_head", True):
            raise ValueError(
                "`model` must output vocabulary logits to generate text. Received: a model built with "
                "use_lm_head=False."
            )
        names = {layer.name for layer in model.layers}
        self.token_embedding = model.get_layer("token_embedding")
        self.position_embedding = model.get_layer("position_embedding") if "position_embedding" in names else None
        self.decoder = model.get_layer("decoder")
        self.lm_head = model.get_layer("lm_head") if "lm_head" in names else None
        self.vocabulary_size = int(params.get("vocabulary_size", self.token_embedding.vocabulary_size))
        self.max_positions = self.position_embedding.max_sequence_length if self.position_embedding else None
        self.variables = model.variables

    def empty_cache(self, batch_size, max_length):
        """An all-zero KV cache: a tuple of one `(batch, 2, max_length, kv_heads, head_dim)` tensor per layer.

        One tensor per layer (not the stack's stacked cache): a step then
        writes each layer's tensor once, without slicing and re-stacking the
        whole cache.
        """
        stacked = self.decoder.empty_cache(batch_size, max_length)
        return tuple(stacked[:, i, ...] for i in range(self.decoder.num_layers))

    def logits(self, token_ids, position_ids, key_mask, cache, cache_index):
        """float32 logits `(batch, n, vocabulary)` of `n` tokens written at `cache_index`, and the new cache.

        Args:
            token_ids: int32 `(batch, n)`.
            position_ids: int32 `(batch, n)`: learned-position rows (GPT); RoPE
                models count from `cache_index` instead.
            key_mask: bool `(batch, max_length)`: which cache slots hold real tokens.
            cache: the KV cache (`empty_cache`'s tuple of per-layer tensors).
            cache_index: int or scalar int tensor.
        """
        x = self.token_embedding(token_ids)
        if self.position_embedding is not None:
            x = x + self.position_embedding(x, position_ids=position_ids)
        x, cache = self.decoder.decode_layers(x, cache, cache_index, padding_mask=key_mask)
        logits = self.lm_head(x) if self.lm_head is not None else self.token_embedding(x, reverse=True)
        return ops.cast(logits, "float32"), cache


__all__ = ["CAUSAL_LM_FAMILIES", "CausalLM"]
