"""The package layout shows the pipeline: imports only go downward, read from the source with ``ast``."""
import ast
from pathlib import Path

import pytest

import symbp

ROOT = Path(symbp.__file__).parent
#: the stages from the bottom up; a module may import from its own stage and those below it
STAGES = [
    {"symbp.errors", "symbp.verdicts", "symbp.exact"},
    {"symbp.lang"},
    {"symbp.model"},
    {"symbp.calculus"},
    {"symbp.checking"},
    {"symbp.kernels"},
    {"symbp.present"},
    {"symbp.train", "symbp.bench", "symbp.testing", "symbp.plugin", "symbp.cli", "symbp", "symbp.__main__"},
]
#: only the command line may import symbp modules inside a function
LOCAL_IMPORTS_ALLOWED = {"symbp.cli"}


def module_name(path: Path) -> str:
    parts = ["symbp", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(name: str) -> int:
    for level, members in enumerate(STAGES):
        for m in members:
            if name == m or (m != "symbp" and name.startswith(m + ".")):
                return level
    if name == "symbp":
        return len(STAGES) - 1
    raise AssertionError(f"{name} belongs to no stage; add it to STAGES")


def imports(path: Path):
    """(imported module, names, line, inside a function) for every import of a symbp module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    local = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("symbp"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                is_module = (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (ROOT.parent / sub.replace(".", "/")).is_dir()
                yield (sub if is_module else target), alias.name, node.lineno, id(node) in local
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("symbp"):
                    yield alias.name, alias.name, node.lineno, id(node) in local


MODULES = sorted(ROOT.rglob("*.py"))


def test_every_module_is_in_a_stage():
    for path in MODULES:
        stage(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_only_go_downward(path):
    here = module_name(path)
    for target, name, line, local in imports(path):
        if here == "symbp" and target == "symbp.__version__":
            continue
        assert stage(target) <= stage(here), f"{here}:{line} imports {target}, a later stage of the pipeline"
        assert not name.startswith("_") or name == "__version__", f"{here}:{line} imports the private name {name}"
        assert not local or here in LOCAL_IMPORTS_ALLOWED, f"{here}:{line} imports {target} inside a function"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_private_names_of_other_modules(path):
    """``module._name`` of an imported symbp module is another module's private name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and (node.level or (node.module or "").startswith("symbp")) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            assert not node.attr.startswith("_"), \
                f"{module_name(path)}:{node.lineno} uses {node.value.id}.{node.attr}, a private name of another module"


def test_the_checker_rejects_an_upward_import(tmp_path, monkeypatch):
    """The rules above fail on a violation: a model module importing from checking."""
    fake = ROOT / "model" / "_layout_probe.py"
    source = "from ..checking.check import Checker\n\n\ndef f():\n    from ..lang import parse\n"
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: source if self == fake else Path.read_bytes(self).decode())
    found = list(imports(fake))
    assert [(t, local) for t, _, _, local in found] == [("symbp.checking.check", False), ("symbp.lang.parse", True)]
    assert stage(found[0][0]) > stage(module_name(fake))
