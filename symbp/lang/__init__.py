"""The equation language: its tree, a whitelisting parser, one visitor base, printing and evaluation."""
from .evaluate import Evaluator
from .parse import parse_equation, parse_expr, parse_ranges
from .text import Printer, to_text
from .tree import (BUILTINS, NAME, Apply, BinOp, Call, Compare, Cond, Deriv, Equation, Kronecker, Name, Neg, Num,
                   Ref, Sum, names_in, walk)
from .visitor import Visitor

__all__ = ["BUILTINS", "NAME", "Apply", "BinOp", "Call", "Compare", "Cond", "Deriv", "Equation", "Evaluator",
           "Kronecker", "Name", "Neg", "Num", "Printer", "Ref", "Sum", "Visitor", "names_in", "parse_equation",
           "parse_expr", "parse_ranges", "to_text", "walk"]
