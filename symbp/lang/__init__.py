"""The equation language: its tree, a whitelisting parser, one visitor base, printing and evaluation."""
from .evaluate import Evaluator
from .parse import parse_equation, parse_expr, parse_ranges
from .text import Printer, to_text
from .tree import (BUILTINS, CONSTANTS, FUNCTIONS, NAME, Apply, BinOp, BoolOp, Call, Compare, Cond, Deriv, Equation,
                   Fn, Kronecker, Name, Neg, Not, Num, Ref, Sum, names_in, rewrite, walk)
from .visitor import Visitor

__all__ = ["BUILTINS", "CONSTANTS", "FUNCTIONS", "NAME", "Apply", "BinOp", "BoolOp", "Call", "Compare", "Cond",
           "Deriv", "Equation", "Evaluator", "Fn", "Kronecker", "Name", "Neg", "Not", "Num", "Printer", "Ref", "Sum",
           "Visitor", "names_in", "rewrite", "parse_equation", "parse_expr", "parse_ranges", "to_text", "walk"]
