"""kcore/_core.pyi describes the native module: the same public names, the same enum members."""
import ast
import pathlib

import kcore
from kcore._runtime import _core

STUBS = pathlib.Path(kcore.__file__).with_name("_core.pyi")


def _stub_names():
    tree = ast.parse(STUBS.read_text())
    names, enums = set(), {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            enums[node.name] = {t.targets[0].id: t.value.value for t in node.body if isinstance(t, ast.Assign)}
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names, enums


def test_stubs_name_every_binding():
    names, _ = _stub_names()
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert names == public


def test_stub_enums_match_the_bound_ones():
    _, enums = _stub_names()
    for name, members in enums.items():
        bound = getattr(_core, name)
        assert {m.name: int(m) for m in bound} == members, name
