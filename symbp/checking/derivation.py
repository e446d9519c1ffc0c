"""Derivation files: TOML data describing a network, definitions and claims, loaded without running code.

Every string is parsed by :mod:`symbp.indexlang` (a whitelist over :func:`ast.parse`); nothing in a
file is ever evaluated as Python. Errors name the file, the line, the claim and what was expected.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import symengine as se

from .. import lang as il
from ..model.activations import ACTIVATIONS
from ..lang.scope import ACTIVATION_NAMES, DERIVATIVE_NAMES, Definition, Scope
from ..errors import DerivationError, ParseError, SymbpError
from ..model.formulations import FORMS, LAYOUTS, Formulation, get_formulation
from ..model.losses import ASSUMPTIONS, LOSSES

EXPECTATIONS = ("holds", "fails", "error")
_TOP = {"title", "source", "notation", "network", "define", "claim"}
_NETWORK = {"form", "layout", "activation", "output", "loss", "samples", "assume", "architectures",
            "aliases", "constants", "formulation"}
_FORMULATION = {"name", "first_layer", "node_low", "size", "activation", "derivative", "equations", "parameters",
                "delta", "output", "equal_widths"}
_DEFINE = {"name", "indices", "cases", "matrix", "note"}
_CLAIM = {"id", "statement", "ranges", "form", "shape", "expect", "note", "architectures", "assume",
          "activation", "output", "loss", "all_widths"}
_OVERRIDES = ("architectures", "assume", "activation", "output", "loss")
_BUILTIN_NAMES = {"J", "e", "L", "m", "N", "y", "x", "Y", "X0"}
_MATRIX_NAMES = {"A", "Z"}


@dataclass
class Claim:
    """One claim of a derivation file, parsed."""

    id: str
    statement: str
    lhs: object
    rhs: object
    ranges: list
    form: str = "index"
    shape: tuple | None = None
    expect: str = "holds"
    note: str = ""
    line: int = 0
    network: dict = field(default_factory=dict)  # this claim's own network options, over the file's
    all_widths: bool = False  # the file asks for the claim to hold for every width


@dataclass
class Derivation:
    """A loaded derivation file."""

    path: str
    title: str
    source: str
    notation: str
    network: dict
    formulation: Formulation
    scope: Scope
    claims: list
    architectures: list = field(default_factory=list)


def load(path) -> Derivation:
    """Load and validate a derivation file.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.toml"
    >>> _ = f.write_text('title = "t"\\n[network]\\narchitectures = [[2, 2]]\\n'
    ...                  '[[claim]]\\nid = "(1)"\\nstatement = "d(J)/d(b[1,j]) = samplesum(d(e)/d(z[1,j]), (i, 1, m)) / m"\\n'
    ...                  'ranges = "(j, 1, n[1])"\\n')
    >>> [c.id for c in load(f).claims]
    ['(1)']
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DerivationError(f"{path}: cannot read the file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DerivationError(f"{path}: not valid TOML: {exc}") from None
    return _Loader(path, text).load(data)


class _Loader:
    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()

    def fail(self, message, claim=None, value=None, key=None):
        line = self.line_of(claim, value, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        raise DerivationError(f"{where}: {f'claim {claim}: ' if claim else ''}{message}")

    def line_of(self, claim=None, value=None, key=None) -> int:
        start = 0
        if claim is not None:
            pattern = re.compile(r"^\s*id\s*=\s*['\"]" + re.escape(str(claim)) + r"['\"]")
            start = next((n for n, l in enumerate(self.lines) if pattern.search(l)), 0)
        needles = [str(value)[:40]] if isinstance(value, str) and value else []
        if key:
            needles.append(f"{key} =")
        for needle in needles:
            for n in range(start, len(self.lines)):
                if needle in self.lines[n]:
                    return n + 1
        return start + 1 if claim is not None else 0

    def keys(self, table, allowed, what, claim=None):
        if not isinstance(table, dict):
            self.fail(f"{what} must be a table", claim)
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} in {what}; expected one of: {', '.join(sorted(allowed))}", claim, key=unknown[0])

    def string(self, table, key, what, claim=None, default=None):
        value = table.get(key, default)
        if value is None:
            self.fail(f"{what} needs {key!r}", claim)
        if not isinstance(value, str):
            self.fail(f"{key} must be a string, got {type(value).__name__}", claim, key=key)
        return value

    def load(self, data) -> Derivation:
        self.keys(data, _TOP, "the file")
        net = data.get("network", {})
        self.keys(net, _NETWORK, "[network]")
        spec = self.spec = self.network(net)
        formulation = self.formulation(net)
        scope = Scope(
            aliases=self.aliases(net),
            constants={},
        )
        constants = net.get("constants", [])
        if not isinstance(constants, list) or not all(isinstance(c, str) and il.NAME.match(c) for c in constants):
            self.fail("constants must be a list of names such as [\"beta\"]", key="constants")
        scope.constants = {c: se.Symbol(c) for c in constants}
        defines = data.get("define", [])
        if not isinstance(defines, list):
            self.fail("[[define]] must be an array of tables")
        for d in defines:
            definition = self.definition(d)
            scope.definitions[definition.name] = definition
        claims = data.get("claim", [])
        if not isinstance(claims, list) or not claims:
            self.fail("the file needs at least one [[claim]]")
        known = self.known_names(formulation, scope)
        parsed, seen = [], set()
        for c in claims:
            claim = self.claim(c, known, scope)
            if claim.id in seen:
                self.fail("claim id used twice", claim.id)
            seen.add(claim.id)
            parsed.append(claim)
        return Derivation(
            str(self.path), self.string(data, "title", "the file"), data.get("source", ""), data.get("notation", ""),
            spec, formulation, scope, parsed, spec["architectures"],
        )

    # --- [network] ---------------------------------------------------------------------------
    def network(self, net):
        spec = {
            "form": net.get("form", "explicit-bias"),
            "layout": net.get("layout", "output-by-input"),
            "activation": net.get("activation", "sigmoid"),
            "output": net.get("output"),
            "loss": net.get("loss", "bce"),
            "samples": net.get("samples", 1),
            "assume": net.get("assume", []),
        }
        for key, allowed in (("activation", ACTIVATIONS), ("output", ACTIVATIONS), ("loss", LOSSES),
                             ("form", FORMS), ("layout", LAYOUTS)):
            if spec[key] is not None and (not isinstance(spec[key], str) or spec[key] not in allowed):
                self.fail(f"unknown {key} {spec[key]!r}; expected one of: {', '.join(allowed)}", value=spec[key], key=key)
        if not isinstance(spec["samples"], int) or isinstance(spec["samples"], bool) or spec["samples"] < 1:
            self.fail("samples must be a whole number >= 1", key="samples")
        if not isinstance(spec["assume"], list) or any(not isinstance(a, str) or a not in ASSUMPTIONS for a in spec["assume"]):
            self.fail(f"assume must be a list of: {', '.join(ASSUMPTIONS)}", key="assume")
        archs = net.get("architectures", [[3, 4, 2]])
        if not (isinstance(archs, list) and archs and all(
            isinstance(a, list) and len(a) >= 2 and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in a)
            for a in archs
        )):
            self.fail("architectures must be a list of layer-width lists such as [[3, 4, 2], [2, 3, 3, 2]]", key="architectures")
        spec["architectures"] = archs
        return spec

    def formulation(self, net) -> Formulation:
        custom = net.get("formulation")
        if custom is None:
            try:
                return get_formulation(net.get("form", "explicit-bias"), net.get("layout", "output-by-input"))
            except SymbpError as exc:
                self.fail(str(exc), key="form")
        self.keys(custom, _FORMULATION, "[network.formulation]")
        base = get_formulation("explicit-bias")
        try:
            eqs = tuple((e["equation"], e.get("ranges", "")) for e in custom["equations"])
            params = tuple((p["parameter"], p["ranges"]) for p in custom["parameters"])
        except (KeyError, TypeError, AttributeError):
            eqs = params = None
        if not eqs or not params or not all(isinstance(t, str) for pair in eqs + params for t in pair):
            self.fail("formulation equations and parameters are tables with equation/parameter and ranges", key="equations")
        for key in ("first_layer", "node_low"):
            if key in custom and (not isinstance(custom[key], int) or isinstance(custom[key], bool) or not 0 <= custom[key] <= 1):
                self.fail(f"formulation {key} must be 0 or 1", key=key)
        for key in ("name", "size", "activation", "derivative"):
            if key in custom and not (isinstance(custom[key], str) and il.NAME.match(custom[key])):
                self.fail(f"formulation {key} must be a name such as \"n\"", key=key)
        f = Formulation(
            name=str(custom.get("name", "custom")), description="from the derivation file",
            first_layer=int(custom.get("first_layer", base.first_layer)), node_low=int(custom.get("node_low", base.node_low)),
            size=str(custom.get("size", base.size)), activation=str(custom.get("activation", base.activation)),
            derivative=str(custom.get("derivative", base.derivative)), equations=eqs, parameters=params,
            delta=str(custom.get("delta", base.delta)), output=str(custom.get("output", base.output)),
            equal_widths=str(custom.get("equal_widths", "")),
        )
        for (text, ranges), read in [*((e, il.parse_equation) for e in eqs), *((p, il.parse_expr) for p in params)]:
            try:
                read(text, "formulation")
                il.parse_ranges(ranges, "formulation")
            except ParseError as exc:
                self.fail(str(exc), value=text)
        return f

    def aliases(self, net):
        aliases = net.get("aliases", {})
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and il.NAME.match(k) and il.NAME.match(v) for k, v in aliases.items()
        ):
            self.fail("aliases must map names to names, such as { s = \"z\" }", key="aliases")
        return aliases

    # --- definitions and claims -----------------------------------------------------------------
    def definition(self, d) -> Definition:
        self.keys(d, _DEFINE, "[[define]]")
        name = self.string(d, "name", "[[define]]")
        if not il.NAME.match(name):
            self.fail(f"{name!r} is not a valid name", value=name)
        indices = tuple(s.strip() for s in self.string(d, "indices", f"definition {name}", default="").split(",") if s.strip())
        cases = d.get("cases")
        if not isinstance(cases, list) or not cases:
            self.fail(f"definition {name} needs cases = [{{ when = \"...\", value = \"...\" }}, ...]", value=name)
        parsed = []
        for case in cases:
            if not isinstance(case, dict) or "value" not in case or set(case) - {"when", "value"}:
                self.fail(f"each case of {name} is {{ when = \"l == L\", value = \"...\" }} (when optional)", value=name)
            where = f"{self.path}:{self.line_of(value=case['value'])}: definition {name}"
            try:
                cond = il.parse_expr(case["when"], where) if "when" in case else None
                value = il.parse_expr(case["value"], where)
            except ParseError as exc:
                raise DerivationError(str(exc)) from None
            parsed.append((cond, value))
        if all(name in il.names_in(v) for _, v in parsed):
            self.fail(f"definition {name} is recursive but has no base case (a case whose value does not use {name})", value=name)
        return Definition(name, indices, parsed, bool(d.get("matrix", False)))

    def known_names(self, formulation: Formulation, scope: Scope) -> set:
        names = {eq.split("[")[0].strip() for eq, _ in formulation.equations}
        names |= {p.split("[")[0].strip() for p, _ in formulation.parameters}
        names |= {formulation.size, "x", "y"} | _MATRIX_NAMES | ACTIVATION_NAMES | DERIVATIVE_NAMES
        names |= set(scope.definitions) | set(scope.aliases) | set(scope.constants)
        return names

    def claim(self, c, known, scope) -> Claim:
        if not isinstance(c, dict):
            self.fail("each [[claim]] must be a table")
        cid = c.get("id")
        if not isinstance(cid, str) or not cid:
            self.fail("every claim needs an id, such as id = \"(43)\"", value=str(c.get("statement", "")))
        self.keys(c, _CLAIM, "[[claim]]", cid)
        statement = self.string(c, "statement", "a claim", cid)
        where = f"{self.path}:{self.line_of(cid, statement)}: claim {cid}"
        try:
            eq = _split(statement, where)
            ranges = il.parse_ranges(self.string(c, "ranges", "a claim", cid, default=""), where)
        except ParseError as exc:
            raise DerivationError(str(exc)) from None
        expect = c.get("expect", "holds")
        if expect not in EXPECTATIONS:
            self.fail(f"expect must be one of: {', '.join(EXPECTATIONS)}", cid, expect, "expect")
        form = c.get("form", "index")
        if form not in ("index", "matrix"):
            self.fail("form must be 'index' or 'matrix'", cid, form, "form")
        shape = None
        if "shape" in c:
            m = re.fullmatch(r"\s*(.+?)\s+x\s+(.+?)\s*", str(c["shape"]))
            if not m:
                self.fail("shape is written 'rows x cols', such as 'n[l] x 1'", cid, c["shape"], "shape")
            try:
                shape = (il.parse_expr(m.group(1), where), il.parse_expr(m.group(2), where))
            except ParseError as exc:
                raise DerivationError(str(exc)) from None
        bound = {r[0] for r in ranges}
        for side in eq:
            for name in sorted(il.names_in(side) - known):
                self.fail(f"unknown name {name!r}; known here: {', '.join(sorted(known))}", cid, statement)
            for name in sorted(_free_names(side) - bound - _BUILTIN_NAMES - set(scope.constants) - set(scope.aliases)
                               - {n for n, d in scope.definitions.items() if not d.indices}):
                self.fail(f"free index {name!r} has no range; add it to ranges, such as ({name}, 1, n[l])", cid, statement)
        overrides = {k: c[k] for k in _OVERRIDES if k in c}
        if overrides:
            try:
                checked = self.network({**self.spec, **overrides})
            except DerivationError as exc:
                raise DerivationError(f"{exc} (in claim {cid})") from None
            overrides = {k: checked[k] for k in overrides}
        all_widths = c.get("all_widths", False)
        if not isinstance(all_widths, bool):
            self.fail("all_widths must be true or false", cid, key="all_widths")
        return Claim(cid, statement, eq[0], eq[1], ranges, form, shape, expect, str(c.get("note", "")),
                     self.line_of(cid), overrides, all_widths)


def _split(statement, where):
    parts = re.split(r"(?<![=<>!])=(?!=)", statement)
    if len(parts) != 2:
        raise ParseError(f"a claim is one equation 'left = right', got {statement.strip()!r}", where)
    return il.parse_expr(parts[0], where), il.parse_expr(parts[1], where)


def _free_names(node) -> set:
    """Bare names not bound by a sum or a sum over samples."""
    out = set()

    def walk(n, bound):
        if isinstance(n, tuple):
            for x in n:
                walk(x, bound)
        elif isinstance(n, il.Name):
            if n.name not in bound:
                out.add(n.name)
        elif isinstance(n, il.Sum):
            walk(n.lo, bound), walk(n.hi, bound), walk(n.body, bound | {n.var})
        elif isinstance(n, il.Call) and n.name == "samplesum":
            var, lo, hi = n.args[1]
            walk(lo, bound), walk(hi, bound), walk(n.args[0], bound | {var.name})
        elif hasattr(n, "__dataclass_fields__"):
            for f in n.__dataclass_fields__:
                walk(getattr(n, f), bound)

    walk(node, frozenset())
    return out
