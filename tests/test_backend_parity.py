"""Every registered block gives the same output on tensorflow, torch and jax.

The comparison spawns one subprocess per backend itself, so it runs in one
backend's suite only (torch's, the shortest suite), not three times.
"""

import os

import pytest

from dlzoo.testing import parity


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "torch", reason="runs once, in the torch suite")
def test_all_blocks_agree_across_backends():
    report = parity.run_parity(reference="tensorflow")
    assert len(report) >= 18, sorted(report)
    print("\n" + parity.format_table(report))
    assert parity.failures(report) == []
