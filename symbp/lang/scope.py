"""What a derivation adds to a network's vocabulary: named definitions, aliases and constants."""
from __future__ import annotations

from dataclasses import dataclass, field

ACTIVATION_NAMES = {"g", "h", "sigma"}
DERIVATIVE_NAMES = {"gprime", "Psi", "hprime", "sigmaprime"}


@dataclass
class Definition:
    """A named indexed quantity: cases tried in order, the first whose condition holds gives the value."""

    name: str
    indices: tuple  # index variable names
    cases: list  # [(condition tree or None, value tree)]
    matrix: bool = False


@dataclass
class Scope:
    """What a derivation adds to the network's vocabulary."""

    definitions: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)  # name -> built-in name
    constants: dict = field(default_factory=dict)  # name -> symbol
