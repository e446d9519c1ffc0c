"""One visitor base for every walk over the language's tree: evaluating, proving, printing, rewriting.

A visitor defines one method per node type it understands, ``visit_<Node>`` (``_print_<Node>`` for
printers, in SymPy's style); a node it does not understand is an :class:`UnknownNodeError` naming the
node and the visitor, never an ``AttributeError``.
"""
from __future__ import annotations

from ..errors import UnknownNodeError


class Visitor:
    """Dispatches ``visit(node, ...)`` to ``<prefix><type name>(node, ...)``.

    >>> from symbp.lang.tree import Num
    >>> from fractions import Fraction
    >>> class Double(Visitor):
    ...     def visit_Num(self, node):
    ...         return 2 * node.value
    >>> Double().visit(Num(Fraction(3)))
    Fraction(6, 1)
    >>> Double().visit("text")
    Traceback (most recent call last):
    ...
    symbp.errors.UnknownNodeError: Double cannot handle str ('text')
    """

    prefix = "visit_"
    what = ""  # what this visitor does, for the error ("cannot be proved for every width", ...)

    def visit(self, node, *args, **kwargs):
        method = getattr(self, self.prefix + type(node).__name__, None)
        if method is None:
            return self.unknown(node, *args, **kwargs)
        return method(node, *args, **kwargs)

    def unknown(self, node, *args, **kwargs):
        """Called for a node without a method; the default is a clear error."""
        text = repr(node)
        if len(text) > 60:
            text = text[:57] + "..."
        raise UnknownNodeError(f"{type(self).__name__} cannot handle {type(node).__name__} ({text})"
                               + (f": {self.what}" if self.what else ""))
