"""Extensions: named, cited transforms of a model's config and/or of a built model.

An extension is one file in this package plus one test. It is registered by
name with `@dlzoo.register_extension(name, paper=..., conflicts_with=(...))`
and used either at build time, `dlzoo.build(name, extensions=["lora"])` or
`extensions=[{"name": "lora", "rank": 8}]`, or on a built model,
`dlzoo.apply_extension(model, "lora", rank=8)`.

Two forms are accepted:

* a subclass of `Extension` (`dlzoo.extensions.base`): its `__init__` keyword arguments (plain
  JSON values, with defaults) are the extension's arguments; it overrides
  `apply_config` (transform the resolved zoo config before the model is
  assembled), `apply_plan` (add blocks to the model's plan: heads,
  feature outputs), `apply_model` (transform the assembled functional
  model), or a combination;
* a plain function `fn(config, **kwargs) -> config`: a config transform.

How the builder uses them (`dlzoo.builder`): the config is resolved (YAML,
then the `base:` chain); each extension, in order, gets `apply_config` on the
complete params; then the user's params are applied and everything is
validated; the model is assembled; then each extension's `apply_model` runs
in order on the functional model; the result is wrapped in a `ZooModel`
whose config lists the extensions, so saving and loading re-applies them
(that is how LoRA weights or frozen flags come back after `dlzoo.load`).

Importing this package registers every built-in extension (one import line
per file below).
"""

from dlzoo.extensions.base import (
    Extension,
    FunctionExtension,
    check_conflicts,
    extension_arguments,
    make_extension,
    transfer_weights,
)
from dlzoo.extensions import (  # noqa: F401,E402  (each module registers its extension)
    classification_head,
    features_only,
    freeze,
    language_model_head,
    lora,
    regression_head,
    swap,
    unfreeze,
)
from dlzoo.registry import register_extension  # noqa: E402

__all__ = [
    "Extension",
    "FunctionExtension",
    "check_conflicts",
    "extension_arguments",
    "make_extension",
    "register_extension",
    "transfer_weights",
]
