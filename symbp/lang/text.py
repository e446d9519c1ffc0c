"""Printing the language's tree back as text, in the language's own notation."""
from __future__ import annotations

from .parse import parse_expr
from .tree import BinOp, BoolOp, Neg, Num
from .visitor import Visitor


class Printer(Visitor):
    """Prints a tree back in the language's own notation; one ``_print_X`` method per node type."""

    prefix = "_print_"
    _PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 3}

    def doprint(self, node) -> str:
        return self.visit(node)

    def _print_tuple(self, node):
        return "(" + ", ".join(map(self.doprint, node)) + ")"

    def _print_Num(self, node):
        return str(node.value)

    def _print_Name(self, node):
        return node.name

    def _print_Ref(self, node):
        return f"{node.name}[{', '.join(map(self.doprint, node.indices))}]"

    def _print_Apply(self, node):
        layer = f"[{', '.join(map(self.doprint, node.indices))}]" if node.indices else ""
        return f"{node.name}{layer}({self.doprint(node.arg)})"

    def _print_Kronecker(self, node):
        return f"I({self.doprint(node.p)}, {self.doprint(node.q)})"

    def _print_Sum(self, node):
        return f"sum({self.doprint(node.body)}, ({node.var}, {self.doprint(node.lo)}, {self.doprint(node.hi)}))"

    def _print_BinOp(self, node):
        prec = self._PREC[node.op]
        left, right = self._wrap(node.left, prec, False), self._wrap(node.right, prec, node.op in "-/@**")
        sep = "" if node.op == "**" else " "
        return f"{left}{sep}{node.op}{sep}{right}"

    def _wrap(self, node, prec, strict):
        text = self.doprint(node)
        inner = self._precedence(node)
        return f"({text})" if inner < prec or (strict and inner == prec) else text

    def _precedence(self, node) -> float:
        """How tightly a node's text binds: a minus sign less than ``**`` (-x**2 is -(x**2)), a fraction such
        as 3/2 as a division does."""
        if isinstance(node, BinOp):
            return self._PREC[node.op]
        if isinstance(node, Neg) or (isinstance(node, Num) and node.value < 0):
            return 2.5
        if isinstance(node, Num) and node.value.denominator != 1:
            return 2
        return 9

    def _print_Neg(self, node):
        return f"-{self._wrap(node.operand, 3, False)}"

    def _print_Fn(self, node):
        return f"{node.name}({', '.join(map(self.doprint, node.args))})"

    def _print_BoolOp(self, node):
        return f" {node.op} ".join(f"({self.doprint(v)})" if isinstance(v, BoolOp) else self.doprint(v)
                                   for v in node.values)

    def _print_Not(self, node):
        inner = self.doprint(node.operand)
        return f"not ({inner})" if isinstance(node.operand, BoolOp) else f"not {inner}"

    def _print_Compare(self, node):
        return f"{self.doprint(node.left)} {node.op} {self.doprint(node.right)}"

    def _print_Cond(self, node):
        return f"({self.doprint(node.then)} if {self.doprint(node.test)} else {self.doprint(node.orelse)})"

    def _print_Deriv(self, node):
        return f"d({self.doprint(node.of)})/d({self.doprint(node.wrt)})"

    def _print_Call(self, node):
        return f"{node.name}({', '.join(map(self.doprint, node.args))})"


def to_text(node) -> str:
    """The tree in the equation language.

    >>> to_text(parse_expr("sum(theta[l,k,p]*delta[l+1,k], (k,1,S[l+1])) * (1 - I(p,0))"))
    'sum(theta[l, k, p] * delta[l + 1, k], (k, 1, S[l + 1])) * (1 - I(p, 0))'
    """
    return Printer().doprint(node)
