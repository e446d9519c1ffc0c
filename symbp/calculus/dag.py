"""Small helpers over SymEngine expression DAGs, shared by the stages that walk expressions."""
from __future__ import annotations

import sys

import symengine as se


def transform(expr, leaf, node, cache=None):
    """Rebuild ``expr`` bottom-up, visiting each distinct sub-expression once.

    ``leaf(e)`` maps an atom; ``node(e, new_args)`` maps an inner node given its rebuilt
    arguments. The cache is shared between calls so that many expressions over the same
    network reuse each other's work.
    """
    cache = {} if cache is None else cache
    limit = sys.getrecursionlimit()
    if limit < 20000:
        sys.setrecursionlimit(20000)
    try:
        return _walk(expr, leaf, node, cache)
    finally:
        sys.setrecursionlimit(limit)


def _walk(e, leaf, node, cache):
    try:
        return cache[e]
    except KeyError:
        pass
    args = e.args
    r = node(e, [_walk(a, leaf, node, cache) for a in args]) if args else leaf(e)
    cache[e] = r
    return r
