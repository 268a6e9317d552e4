"""The compatibility module's workarounds still do what they are there for on this Keras."""

import gc

import dlzoo


def test_quantize_runs_one_garbage_collection_not_one_per_replaced_kernel(monkeypatch):
    calls = []
    collect = gc.collect

    def counting_collect(generation=2):
        calls.append(generation)
        return collect(generation)

    monkeypatch.setattr(gc, "collect", counting_collect)
    model = dlzoo.build("gpt-tiny", vocabulary_size=64, hidden_dim=32, max_sequence_length=16)
    model.quantize("int8")
    # Keras' Layer.__delattr__ collects after each replaced kernel (several per layer); dlzoo collects once, at the end.
    assert calls == [2]
    assert gc.collect is counting_collect  # put back
    assert model.zoo_config["metadata"]["quantization"] == "int8"


def test_one_garbage_collection_puts_collect_back_and_runs_it_once_when_the_block_raises(monkeypatch):
    from dlzoo.compat.keras_internals import one_garbage_collection

    calls = []

    def counting_collect(generation=2):
        calls.append(generation)
        return 0

    monkeypatch.setattr(gc, "collect", counting_collect)
    try:
        with one_garbage_collection():
            assert gc.collect() == 0 and calls == []  # a no-op inside
            raise KeyError("inside")
    except KeyError:
        pass
    assert gc.collect is counting_collect and calls == [2]
