"""Per-device training memory on a (data, model) mesh, from the model's layout (nothing allocated).

Each weight is split over the mesh axes its layout names (`dlzoo.distribution.layout`):
a weight of E elements sharded on the model axis (size M) holds E / M
elements per device, on both axes E / (D * M), replicated E. Gradients and
optimizer slots have the weights' layouts (Keras creates them from the
variable), so they divide the same way. Activations divide by the data axis
(each device runs batch / D examples); under model parallelism the inner
attention and feed-forward activations are split further over the model
axis, which this upper bound leaves out.
"""

from typing import Dict

from dlzoo.distribution.layout import DATA_AXIS, MODEL_AXIS, check_mesh, check_strategy, resolved_layouts


def per_device_weight_elements(specs, mesh, strategy: str) -> Dict[str, int]:
    """`{"all": elements, "trainable": elements}` of the weights one device holds under `mesh` and `strategy`."""
    data, model = check_mesh(mesh)
    sizes = {DATA_AXIS: data, MODEL_AXIS: model, None: 1}
    layouts = resolved_layouts(specs, (data, model), check_strategy(strategy))
    total = trainable = 0
    for spec in specs:
        elements = 1
        for size, axis in zip(spec.shape, layouts[spec.path]):
            elements *= size // sizes[axis]
        total += elements
        trainable += elements if spec.trainable else 0
    return {"all": total, "trainable": trainable}


__all__ = ["per_device_weight_elements"]
