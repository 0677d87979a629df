"""Backend instances and the choice among them.

`kcore` and `numpy` are built from the op registry (kcore/_ops.py) over two kernel providers
(kcore/_kernels.py): each op becomes a function with its Keras signature that tries the
provider's native entry, builds a graph node for symbolic arguments, or runs the op's eager
function. An external backend is any importable module that defines at least `placeholder`,
`variable` and `function`.
"""
from __future__ import annotations

import functools
import importlib
import sys
import threading
import types
from collections.abc import Callable

from kcore import _api, _config, _graph, _kernels
from kcore._ops import REGISTRY, Op

_lock = threading.Lock()
_instances: dict = {}
# Names Keras's own loader keeps from its common module, whatever the backend defines.
COMMON = ("epsilon", "set_epsilon", "floatx", "set_floatx", "cast_to_floatx", "image_data_format",
          "set_image_data_format", "normalize_data_format", "image_dim_ordering", "set_image_dim_ordering",
          "backend")
PROVIDERS = {"kcore": _kernels.NATIVE, "numpy": _kernels.NUMPY}


def bind(op: Op, kern) -> Callable:
    """op as a backend function: op.impl's signature (less `kern`), with the provider bound.

    The function is generated with that exact signature, so the common call costs one Python
    frame: the native entry first (it declines what it does not take), then a symbolic check,
    then the eager function."""
    params = list(op.signature.parameters.values())
    if any(p.kind != p.POSITIONAL_OR_KEYWORD for p in params):
        def generic(*args, **kwargs):
            return _graph.apply(op, kern, args, kwargs)

        return functools.wraps(op.impl)(generic)
    names = [p.name for p in params]
    env = {"_op": op, "_kern": kern, "_impl": op.impl, "_PLAIN": _graph.PLAIN, "_sym": _graph.contains_symbolic,
           "_node": _graph.make_node}
    sig = []
    for p in params:
        if p.default is p.empty:
            sig.append(p.name)
        else:
            env[f"_d_{p.name}"] = p.default
            sig.append(f"{p.name}=_d_{p.name}")
    call = ", ".join(names)
    lines = [f"def {op.name}({', '.join(sig)}):"]
    if op.native is not None:
        env["_entry"] = getattr(kern, op.native[0])
        consts = "".join(f"_c{i}, " for i in range(len(op.native) - 1))
        env.update({f"_c{i}": c for i, c in enumerate(op.native[1:])})
        # (OverflowError: a number past a C double's range; the eager function names it, as in
        # Op.eager)
        lines += ["    try:", f"        r = _entry({consts}{call})", "    except OverflowError:", "        r = None",
                  "    if r is not None:", "        return r"]
    check = " or ".join(f"(type({n}) not in _PLAIN and _sym({n}))" for n in names) or "False"
    lines += [f"    if {check}:", f"        return _node(_op, _kern, ({call}{',' if len(names) == 1 else ''}), {{}})",
              f"    return _impl({'_kern, ' if op.kernels else ''}{call})"]
    exec("\n".join(lines), env)
    fn = env[op.name]
    fn.__doc__ = op.impl.__doc__
    fn.__qualname__ = op.name
    fn.__module__ = f"kcore._backend_{kern.name}"
    fn.op = op
    return fn


def build(name: str) -> types.ModuleType:
    """A backend namespace: the registry's ops bound to the provider, and the plain functions."""
    kern = PROVIDERS[name]
    mod = types.ModuleType(f"kcore._backend_{name}", f"The `{name}` backend: the Keras 2 API on {name}'s kernels.")
    for family in _api.FAMILIES:
        for fn_name in family.PUBLIC:
            setattr(mod, fn_name, getattr(family, fn_name))
    for key, op in REGISTRY.items():
        setattr(mod, key, bind(op, kern))
    setattr(mod, "_kernels", kern)  # noqa: B010 - a module attribute set at run time
    sys.modules[mod.__name__] = mod  # so that its functions pickle by reference
    return mod


def instance(name: str) -> types.ModuleType:
    """The `kcore` or `numpy` backend (built once)."""
    with _lock:
        if name not in _instances:
            _instances[name] = build(name)
        return _instances[name]


def public_names(mod) -> dict:
    return {k: v for k, v in vars(mod).items() if not k.startswith("__") and not isinstance(v, types.ModuleType)}


def load_external(name: str) -> dict:
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        raise ValueError(f"Unable to import backend : {name} ({e})") from None
    missing = [e for e in _config.REQUIRED_BACKEND_ENTRIES if not hasattr(mod, e)]
    if missing:
        raise ValueError(f"Invalid backend {name!r}. Missing required entries: {', '.join(missing)}")
    entries = public_names(mod)
    common = public_names(instance("kcore"))
    for k in COMMON:
        entries[k] = common[k]
    return entries


def namespace(name: str) -> dict:
    if name in _config.KCORE_BACKENDS:
        return public_names(instance(name))
    return load_external(name)
