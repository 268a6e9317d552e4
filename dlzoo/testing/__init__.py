"""Test utilities shared by dlzoo's own tests and by plugin authors."""

from dlzoo.testing.test_case import TestCase, make_input, wrap_in_model

__all__ = ["TestCase", "make_input", "wrap_in_model"]
