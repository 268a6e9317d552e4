"""YAML reading with the floats of YAML 1.2: `1e-3` is a number, as in JSON and Python.

PyYAML implements YAML 1.1, whose float rule needs a dot (`1.0e-3`): `1e-3`
and `5E-4` load as strings. `Loader` is `yaml.SafeLoader` (plain data only,
no Python tags; libyaml's `CSafeLoader` when available, several times faster) plus the YAML 1.2
core-schema float forms without a dot.
Every other rule stays PyYAML's.
"""

import re

import yaml


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """`yaml.SafeLoader` (its C version when PyYAML has libyaml) that also reads `1e-3`, `-2E+5` and `.5e-1` as floats."""


# Registered after PyYAML's own resolvers: `1e3` matches neither its int nor its float rule.
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def safe_load(stream):
    """Parse one YAML document (a string or a file) into plain Python data."""
    return yaml.load(stream, Loader=Loader)


__all__ = ["Loader", "safe_load"]
