"""Named inference graphs of zoo models, for families whose forward pass is not what one serves.

Most zoo models export their forward pass as is. Some do not: the Two-Tower
LCM's forward pass is its *training* graph (it draws diffusion timesteps and
noise inside), so exporting it would give an artifact whose outputs are
random. Such a family registers inference graphs, functional models that
share the trained layers, and `dlzoo.export(model, out, graph="denoiser")`
exports one of them.

    register_graphs("two_tower_lcm", fn, forward_is_inference=False)

`fn(model) -> {name: keras.Model}`. A family registers in its own package;
the Two-Tower LCM's graphs are registered here from the layer names its
docstring documents (`encoder_prenet`, `encoder`, `denoiser`).
"""

from typing import Any, Callable, Dict, List, Optional

_GRAPHS: Dict[str, Dict[str, Any]] = {}


def register_graphs(family: str, fn: Callable[[Any], Dict[str, Any]], forward_is_inference: bool = True) -> None:
    """Register the inference graphs of a model family (its registered assembler name).

    Args:
        family: str. The zoo config's `model` (assembler) name.
        fn: callable. `fn(model) -> {graph name: functional keras.Model}`,
            sharing the model's layers.
        forward_is_inference: bool. False when the model's own forward pass
            must not be exported (e.g. it samples noise).
    """
    _GRAPHS[family] = {"fn": fn, "forward_is_inference": forward_is_inference}


def model_family(model: Any) -> Optional[str]:
    config = getattr(model, "zoo_config", None)
    if isinstance(config, dict):
        return config.get("model")
    return None


def _entry(model: Any) -> Optional[Dict[str, Any]]:
    family = model_family(model)
    return _GRAPHS.get(family) if family else None


def list_graphs(model: Any) -> List[str]:
    """Names of the model's registered inference graphs (empty for most models)."""
    entry = _entry(model)
    return sorted(entry["fn"](model)) if entry else []


def forward_is_inference(model: Any) -> bool:
    entry = _entry(model)
    return entry["forward_is_inference"] if entry else True


def select_graph(model: Any, graph: Optional[str]) -> Any:
    """The Keras model to export: the model itself, or its named inference graph."""
    entry = _entry(model)
    if graph is None:
        if entry and not entry["forward_is_inference"]:
            raise ValueError(
                f"The forward pass of {getattr(model, 'name', 'this model')!r} ({model_family(model)}) is its "
                f"training graph, not an inference graph; export one of its inference graphs with "
                f"graph=<name>. Allowed: {sorted(entry['fn'](model))}."
            )
        return model
    if not isinstance(graph, str):
        raise TypeError(f"`graph` must be a string or None. Received: graph={graph!r}.")
    graphs = entry["fn"](model) if entry else {}
    if graph not in graphs:
        raise ValueError(
            f"Unknown inference graph for {getattr(model, 'name', 'this model')!r}. Received: graph={graph!r}. "
            f"Allowed: {sorted(graphs) or 'none (export the model itself with graph=None)'}."
        )
    return graphs[graph]


def _two_tower_lcm_graphs(model: Any) -> Dict[str, Any]:
    import keras  # lazy: keras

    cache = getattr(model, "_dlzoo_export_graphs", None)
    if cache is not None:
        return cache
    prenet = model.get_layer("encoder_prenet")
    encoder = model.get_layer("encoder")
    denoiser = model.get_layer("denoiser")
    concept_dim = model.get_layer("denoiser").final_proj.units

    emb = keras.Input((None, concept_dim), name="embeddings")
    mask = keras.Input((None,), dtype="bool", name="padding_mask")
    states = encoder(prenet(emb), padding_mask=mask)
    encoder_model = keras.Model({"embeddings": emb, "padding_mask": mask}, {"context": states}, name="encoder")

    hidden_dim = states.shape[-1]
    noisy = keras.Input((None, concept_dim), name="noisy_latents")
    timesteps = keras.Input((None,), dtype="int32", name="timesteps")
    context = keras.Input((None, hidden_dim), name="context")
    context_mask = keras.Input((None,), dtype="bool", name="context_padding_mask")
    # One denoising step of generation: every latent row sees the whole context (`causal=False`).
    denoised = denoiser(noisy, timesteps=timesteps, context=context, context_padding_mask=context_mask, causal=False)
    denoiser_model = keras.Model(
        {"noisy_latents": noisy, "timesteps": timesteps, "context": context, "context_padding_mask": context_mask},
        {"denoised": denoised},
        name="denoiser",
    )
    graphs = {"encoder": encoder_model, "denoiser": denoiser_model}
    object.__setattr__(model, "_dlzoo_export_graphs", graphs)  # not tracked by Keras: no new weights
    return graphs


register_graphs("two_tower_lcm", _two_tower_lcm_graphs, forward_is_inference=False)
