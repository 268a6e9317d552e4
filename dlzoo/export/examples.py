"""Small functional Keras models that exercise the export paths.

They stand for the shapes of zoo models in the export matrix and the tests:
a dense net, a pre-norm transformer layer with exact (erf) GELU and a
dynamic sequence length (the case where tf2onnx emits `Erfc`), and a
two-input model with named inputs and two independent dynamic lengths (the
shape of the two-tower LCM denoiser: latents, timestep, context). Built
only from `keras.layers`, so they save and load on every backend.
"""

import keras
from keras import layers

EXAMPLES = ("example-mlp", "example-transformer", "example-two-input")


def mlp(seed: int = 0) -> keras.Model:
    """`features (batch, 8) -> logits (batch, 3)`."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((8,), name="features")
    h = layers.Dense(16, activation="relu")(x)
    y = layers.Dense(3, name="logits")(h)
    return keras.Model(x, y, name="example_mlp")


def transformer(seed: int = 0, hidden_dim: int = 16, num_heads: int = 2) -> keras.Model:
    """`tokens (batch, seq, 16) -> hidden (batch, seq, 16)`: one pre-norm layer, exact GELU."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((None, hidden_dim), name="tokens")
    h = layers.LayerNormalization(epsilon=1e-5)(x)
    a = layers.MultiHeadAttention(num_heads=num_heads, key_dim=hidden_dim // num_heads)(h, h)
    h = layers.Add()([x, a])
    f = layers.LayerNormalization(epsilon=1e-5)(h)
    f = layers.Dense(2 * hidden_dim)(f)
    f = layers.Activation("gelu")(f)  # keras' "gelu" activation is the exact (erf) form
    f = layers.Dense(hidden_dim)(f)
    y = layers.Add(name="hidden")([h, f])
    return keras.Model(x, y, name="example_transformer")


def two_input(seed: int = 0, hidden_dim: int = 8) -> keras.Model:
    """Named inputs `latents (b, s, 8)`, `timestep (b, 1)`, `context (b, c, 8)` -> `denoised (b, s, 8)`."""
    keras.utils.set_random_seed(seed)
    latents = keras.Input((None, hidden_dim), name="latents")
    timestep = keras.Input((1,), name="timestep")
    context = keras.Input((None, hidden_dim), name="context")
    t = layers.Dense(hidden_dim, activation="silu")(timestep)
    h = layers.Dense(hidden_dim)(latents)
    h = layers.Add()([h, layers.Reshape((1, hidden_dim))(t)])
    a = layers.MultiHeadAttention(num_heads=2, key_dim=hidden_dim // 2)(h, context)
    h = layers.LayerNormalization()(layers.Add()([h, a]))
    y = layers.Dense(hidden_dim, name="denoised")(h)
    return keras.Model({"latents": latents, "timestep": timestep, "context": context}, y, name="example_two_input")


def build_example(name: str) -> keras.Model:
    builders = {"example-mlp": mlp, "example-transformer": transformer, "example-two-input": two_input}
    if name not in builders:
        raise ValueError(f"Unknown example model {name!r}. Allowed: {list(builders)}.")
    return builders[name]()
