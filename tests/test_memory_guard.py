"""Builds that cannot fit are refused before any weight is allocated, with the estimate and the memory available."""

from unittest import mock

import keras
import pytest

import dlzoo
from dlzoo import memory_guard, zoo_model
from dlzoo.cli import main


def test_a_model_too_large_is_refused_before_allocation():
    with mock.patch.object(memory_guard, "available_bytes", return_value=2**29), mock.patch.object(zoo_model, "wire") as wire:
        with pytest.raises(MemoryError) as caught:
            dlzoo.build("gpt-base")  # 124,439,808 parameters x 4 bytes x 2 = 0.93 GiB > 0.5 GiB
        wire.assert_not_called()
    message = str(caught.value)
    for fragment in ("'gpt-base'", "124,439,808 parameters", "4 bytes", "float32", "0.5 GiB of memory is available",
                     "check_memory=False", "DLZOO_SKIP_MEMORY_CHECK"):
        assert fragment in message, message


def test_the_estimate_follows_the_dtype_policy_and_can_be_overridden():
    with mock.patch.object(memory_guard, "available_bytes", return_value=int(0.6 * 2**30)):
        with pytest.raises(MemoryError):
            dlzoo.build("gpt-base")
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("bfloat16")
        try:
            with mock.patch.object(zoo_model, "wire", side_effect=RuntimeError("wired")):
                with pytest.raises(RuntimeError, match="wired"):  # 2 bytes a weight: it fits, building goes on
                    dlzoo.build("gpt-base")
        finally:
            keras.config.set_dtype_policy(previous)
        with mock.patch.object(zoo_model, "wire", side_effect=RuntimeError("wired")):
            with pytest.raises(RuntimeError, match="wired"):
                dlzoo.build("gpt-base", check_memory=False)
            with mock.patch.dict("os.environ", {memory_guard.ENV_SKIP: "1"}):
                with pytest.raises(RuntimeError, match="wired"):
                    dlzoo.build("gpt-base")


def test_a_model_that_fits_builds():
    with mock.patch.object(memory_guard, "available_bytes", return_value=2**30):
        assert dlzoo.build("gpt-tiny").count_params() == 141056


def test_unknown_memory_does_not_block():
    with mock.patch.object(memory_guard, "available_bytes", return_value=None):
        memory_guard.check_fits("m", 10**12, "float32")


def test_cli_gives_one_line_and_exit_2(capsys):
    with mock.patch.object(memory_guard, "available_bytes", return_value=2**29):
        assert main(["build", "gpt-base"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dlzoo build: error: Building 'gpt-base' would need" in err[0]
