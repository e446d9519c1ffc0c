"""Exact numbers: a Fraction or an int as a SymEngine number, with no float in between."""
from __future__ import annotations

from fractions import Fraction

import symengine as se


def number(value) -> se.Basic:
    """A Fraction or int as an exact SymEngine number.

    >>> number(Fraction(3, 4)), number(2)
    (3/4, 2)
    """
    v = Fraction(value)
    return se.Integer(v.numerator) if v.denominator == 1 else se.Rational(v.numerator, v.denominator)
