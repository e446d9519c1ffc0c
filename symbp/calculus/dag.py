"""Expression DAGs: walks that visit each distinct sub-expression once, and derivatives that keep the sharing.

A network's loss is a DAG: every node of layer l feeds every node of layer l + 1, so as a tree it has
exponentially many paths. SymEngine shares sub-expressions by pointer, but it compares two equal
expressions built apart node by node along every path, and prints every path out; its hash is 32
bits and weak (``A + B`` and ``2A + 2B`` can share it). So every walk here identifies a node by
:func:`key`, an exact structural identity computed once per SymEngine object: atoms are told apart
by SymEngine's equality (cheap for an atom), every other node by its kind and the identities of its
arguments. Two nodes get one identity exactly when they are the same expression (up to the order of
a sum's or a product's terms), however often they were built, and the cost is linear in the DAG.

Derivatives here are forward and reverse accumulation over the DAG: each distinct node is visited
once and the result is built from the expression's own nodes, so it is a DAG of about the same size.
"""
from __future__ import annotations

import ctypes
import itertools

import symengine as se

from ..model.activations import h, h_prime

ZERO, ONE = se.Integer(0), se.Integer(1)
RELATIONS = {"LessThan": se.Le, "StrictLessThan": se.Lt, "Equality": se.Eq, "Unequality": se.Ne}
_DUMMIES: list = []  # stand-ins for a function's arguments when SymEngine supplies its derivative

# A SymEngine object is a Python header followed by one pointer to the C++ node; the pointer tells
# which C++ node a wrapper stands for (SymEngine makes a new wrapper on every access to .args).
_OFFSET = object.__basicsize__
if se.Basic.__basicsize__ != _OFFSET + ctypes.sizeof(ctypes.c_void_p):
    raise ImportError("symbp: unknown layout of symengine objects; install a symengine release from 0.13 to 0.15")


_POINTER = ctypes.c_void_p.from_address


def _address(e) -> int:
    return _POINTER(id(e) + _OFFSET).value


_BY_ADDRESS: dict = {}  # C++ address -> (wrapper, identity, args, their identities); the wrappers keep
#                         the addresses from being reused, and later walks take the arguments from here
_BY_STRUCTURE: dict = {}  # (kind, atom) or (kind, name, argument identities) -> identity
_IDENTITIES = itertools.count()  # never reused, so clearing the tables never makes two nodes one
# Entries before a table starts over, for memory (an address entry keeps its expression alive, about
# 650 bytes): without addresses a node is interned again to the same identity; without structures
# it gets a new one, and caches keyed by the old one just miss.
_ADDRESS_LIMIT, _STRUCTURE_LIMIT = 500_000, 4_000_000


def key(e) -> int:
    """The identity of a node in every walk and cache: equal exactly when the expressions are equal.

    >>> x, y = se.symbols("x y")
    >>> key(se.exp(x) + y) == key(y + se.exp(x)), key(x + y) == key(2 * x + 2 * y)
    (True, False)
    """
    if not isinstance(e, se.Basic):  # a Python number: only SymEngine objects have the layout read here
        e = se.sympify(e)
    return _entry(e)[1]


def _entry(e):
    """(wrapper, identity, args, identities of args) of a node, interned with its arguments on first sight."""
    hit = _BY_ADDRESS.get(_address(e))
    if hit is not None:
        return hit
    if len(_BY_ADDRESS) > _ADDRESS_LIMIT:
        _BY_ADDRESS.clear()
    if len(_BY_STRUCTURE) > _STRUCTURE_LIMIT:
        _BY_STRUCTURE.clear()
    stack = [(e, _address(e), None, None)]
    while stack:
        node, address, args, addresses = stack[-1]
        if address in _BY_ADDRESS:
            stack.pop()
            continue
        if args is None:
            args = node.args
            addresses = [_address(a) for a in args]
            stack[-1] = (node, address, args, addresses)
            pending = [(a, x, None, None) for a, x in zip(args, addresses) if x not in _BY_ADDRESS]
            if pending:
                stack.extend(pending)
                continue
        stack.pop()
        kind = type(node).__name__
        ids = tuple(_BY_ADDRESS[x][1] for x in addresses)
        if not args:
            structure = (kind, node)  # an atom: SymEngine's equality decides
        else:
            name = node.get_name() if kind == "FunctionSymbol" else ""
            structure = (kind, name, tuple(sorted(ids)) if kind in ("Add", "Mul") else tuple(ids))
        identity = _BY_STRUCTURE.get(structure)
        if identity is None:
            identity = _BY_STRUCTURE[structure] = next(_IDENTITIES)
        _BY_ADDRESS[address] = (node, identity, args, ids)
    return _BY_ADDRESS[_address(e)]


def _walk(root, known, finish):
    """``finish(node, key, args, keys of args)`` on each node not ``known`` below ``root``, arguments first."""
    # iterative (a network's DAG is deeper than Python's recursion limit); finish makes the key known
    stack = [(_entry(se.sympify(root)), False)]
    while stack:
        entry, expanded = stack.pop()
        if entry[1] in known:
            continue
        if expanded:
            finish(*entry)
            continue
        stack.append((entry, True))
        stack.extend((_entry(a), False) for a, i in zip(entry[2], entry[3]) if i not in known)


def topological(expr) -> list:
    """Every distinct node of ``expr`` once, as (node, key, args, keys of args), each after its arguments.

    >>> x = se.Symbol("x")
    >>> order = [str(node) for node, _, _, _ in topological(se.exp(x) * (1 + se.exp(x)))]
    >>> sorted(order), order[-1], order.index("exp(x)") < order.index("1 + exp(x)")
    (['1', '1 + exp(x)', 'E', 'exp(x)', 'exp(x)*(1 + exp(x))', 'x'], 'exp(x)*(1 + exp(x))', True)
    """
    order, done = [], set()

    def finish(*entry):
        done.add(entry[1])
        order.append(entry)

    _walk(expr, done, finish)
    return order


def transform(expr, leaf, node, cache=None):
    """Rebuild ``expr`` bottom-up, visiting each distinct sub-expression once.

    ``leaf(e)`` maps an atom; ``node(e, new_args)`` maps an inner node given its rebuilt arguments.
    The cache (keyed by :func:`key`) may be shared between calls so that many expressions over the
    same network reuse each other's work.

    >>> x = se.Symbol("x")
    >>> transform(se.exp(x) * (1 + se.exp(x)), lambda e: 2 if e == x else e, rebuild) == se.exp(2) * (1 + se.exp(2))
    True
    """
    cache = {} if cache is None else cache

    def finish(e, k, args, keys):
        cache[k] = node(e, [cache[i] for i in keys]) if args else leaf(e)

    _walk(expr, cache, finish)
    return cache[key(expr)]


def rebuild(e, args):
    """The node ``e`` with new arguments (piecewise functions and relations included).

    >>> x = se.Symbol("x")
    >>> rebuild(se.Piecewise((0, x <= 0), (x, True)), [0, x <= 1, 2 * x, se.true])
    Piecewise((0, x <= 1), (2*x, True))
    """
    kind = type(e).__name__
    if kind == "Piecewise":
        return se.Piecewise(*zip(args[0::2], args[1::2]))
    if kind in RELATIONS:
        return RELATIONS[kind](*args)
    return e.func(*args)


def substitute(expr, mapping: dict, cache=None):
    """``expr`` with the atoms in ``mapping`` replaced; only the nodes above a replaced atom are rebuilt.

    >>> x, y = se.symbols("x y")
    >>> substitute(se.exp(x) + y, {x: y**2})
    y + exp(y**2)
    """
    changes = {key(a): v for a, v in mapping.items()}
    return _rewrite(expr, lambda e: changes.get(key(e)), cache)


#: ``_node(value, label)`` stands for ``value``: it marks where one named quantity of a network sits,
#: which SymEngine would otherwise merge into the sum or product that reads it
_NODE = se.Function("_node")


def mark(value, label: int):
    """``value`` marked as one named quantity (``label`` tells marks of equal values apart).

    The derivative of an expression by the quantity is the adjoint of its mark (:func:`reverse`).

    >>> x = se.Symbol("x")
    >>> u = mark(x + 1, 0)
    >>> y = 2 * u + u**2
    >>> reverse(y, [u])[u] == 2 + 2 * u, unmark(y) == 2 * (x + 1) + (x + 1)**2
    (True, True)
    """
    return _NODE(value, se.Integer(label))


def unmark(expr, cache=None):
    """``expr`` with every mark replaced by the value it marks (see :func:`mark`)."""
    return _rewrite(expr, lambda e: None, cache)


def _is_mark(e) -> bool:
    return type(e).__name__ == "FunctionSymbol" and e.get_name() == "_node"


def _rewrite(expr, leaf, cache):
    """Rebuild only the nodes above a changed atom (``leaf`` gives its replacement, or None) or a mark."""

    def node(e, args):  # None stands for an unchanged node
        if _is_mark(e):
            return e.args[0] if args[0] is None else args[0]
        if all(a is None for a in args):
            return None
        return rebuild(e, [old if new is None else new for old, new in zip(e.args, args)])

    out = transform(expr, leaf, node, {} if cache is None else cache)
    return expr if out is None else out


# --- local derivatives ------------------------------------------------------------------------
def partials(e, args, which) -> list:
    """[(k, d e / d args[k])] for the argument positions ``which``; a condition has none.

    >>> x, y = se.symbols("x y")
    >>> partials(x * se.sin(y), [x, se.sin(y)], [0, 1]), partials(se.sin(y), [y], [0])
    ([(0, sin(y)), (1, x)], [(0, cos(y))])
    """
    kind = type(e).__name__
    if kind == "Add":
        return [(k, ONE) for k in which]
    if kind == "Mul":
        return [(k, _product(args[:k] + args[k + 1:])) for k in which]
    if kind == "Pow":
        base, exponent = args
        out = []
        for k in which:
            if k == 0:
                out.append((0, exponent * base ** (exponent - 1)))
            elif base == se.E:
                out.append((1, e))
            else:
                out.append((1, e * se.log(base)))
        return out
    if kind == "Piecewise":  # a.e. the derivative of the branch that applies; conditions are constant
        conds = args[1::2]
        return [(k, se.Piecewise(*[(ONE if 2 * b == k else ZERO, c) for b, c in enumerate(conds)]))
                for k in which if k % 2 == 0]
    if kind == "FunctionSymbol" and e.get_name() == "h":
        return [(0, h_prime(args[0]))]
    if _is_mark(e):
        return [(0, ONE)] if 0 in which else []
    if kind == "Abs":
        return [(0, se.sign(args[0]))]
    if kind in RELATIONS or kind.startswith("Boolean"):
        return []
    return [(k, _supplied(e, args, k)) for k in which]


def _product(factors):
    return factors[0] if len(factors) == 1 else se.Mul(*factors)


def _supplied(e, args, k):
    """SymEngine's own derivative of one function node by its k-th argument."""
    while len(_DUMMIES) < len(args):
        _DUMMIES.append(se.Dummy(f"u{len(_DUMMIES)}"))
    us = _DUMMIES[: len(args)]
    local = rebuild(e, us).diff(us[k])
    return local.xreplace(dict(zip(us, args)))


def forward(expr, tangents: dict):
    """d expr / dt where each atom ``s`` in ``tangents`` moves as ds/dt = tangents[s] (forward accumulation).

    >>> x, y = se.symbols("x y")
    >>> forward(x * se.exp(x * y), {x: 1, y: 0}) == x * y * se.exp(x * y) + se.exp(x * y)
    True
    """
    seeds = {key(s): se.sympify(t) for s, t in tangents.items() if se.sympify(t) != ZERO}
    cache: dict = {}  # key -> tangent, None where it is 0
    for e, k, args, keys in topological(expr):
        if not args:
            cache[k] = seeds.get(k)
            continue
        moving = [j for j, kj in enumerate(keys) if cache[kj] is not None]
        if not moving:
            cache[k] = None
            continue
        cache[k] = _sum([d * cache[keys[j]] for j, d in partials(e, args, moving)])
    t = cache.get(key(expr))
    return ZERO if t is None else t


def reverse(expr, wrt) -> dict:
    """d expr / d w for every ``w`` in ``wrt``, an atom or a mark (reverse accumulation: one pass for all).

    >>> x, y = se.symbols("x y")
    >>> d = reverse(x * se.exp(x * y), [x, y])
    >>> d[x] == x * y * se.exp(x * y) + se.exp(x * y), d[y] == x**2 * se.exp(x * y)
    (True, True)
    """
    wanted = {key(w): w for w in wrt}
    order = topological(expr)
    relevant = set()  # nodes with a wanted node at or below them: the only ones worth an adjoint
    for e, k, args, keys in order:
        if k in wanted or any(kj in relevant for kj in keys):
            relevant.add(k)
    root = order[-1][1]
    adjoint_terms = {root: [ONE]} if root in relevant else {}
    out = {}
    for e, k, args, keys in reversed(order):
        terms = adjoint_terms.pop(k, None)
        if terms is None:
            continue
        bar = _sum(terms)
        if k in wanted:
            out[k] = bar
        moving = [j for j, kj in enumerate(keys) if kj in relevant]
        for j, d in partials(e, args, moving) if moving else ():
            if d != ZERO:
                adjoint_terms.setdefault(keys[j], []).append(d if bar == ONE else bar * d)
    return {w: out.get(k, ZERO) for k, w in wanted.items()}


def _sum(terms):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else se.Add(*terms)


__all__ = ["forward", "key", "mark", "partials", "rebuild", "reverse", "substitute", "topological", "transform", "unmark"]
