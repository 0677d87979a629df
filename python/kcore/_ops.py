"""The op registry: every backend op is declared once, here, by its family module (kcore/_api/).

An `Op` holds what the rest of kcore needs to know about an operation:

- `impl`: its eager function. Ops of the native families take the kernel provider first
  (`impl(kern, x, ...)`): the `kcore` backend passes kcore's native kernels, the `numpy` backend
  the NumPy reference (kcore/_kernels.py). Other ops are plain NumPy code (`impl(x, ...)`).
- `native`: the provider's entry tried before anything else, with leading constant arguments
  (e.g. `("reduce", ReduceKind.sum)`): it takes the call's own arguments and returns None to
  decline anything it does not handle. Then `impl` runs: it converts the arguments (lists,
  scalars, other byte orders) and tries the entry again only if that made new arrays, so no call
  tries the same arguments twice. An op's `impl` is therefore only called after its entry has
  declined those arguments (the backends' functions and `Op.eager` see to it).
- `shape`: a static shape rule, `shape(*args, **kwargs) -> (shape, dtype)` with symbolic
  arguments as they are, for ops where inferring shapes by running `impl` on probe arrays is
  wrong, has effects or costs a pass over them; it may return None to probe that call; None to
  probe every call (kcore/_graph.py).
- `side_effect`: the op does something besides computing its result (print_tensor); it never
  runs while shapes are inferred, so it needs a `shape` rule.
- `gradient`: the slot for its gradient rule (reverse mode), filled where gradients are defined.
- `build`: a graph-building rewrite, `build(kern, *args, **kwargs) -> node or None`, tried when the
  op is applied to graph arguments: a node to use instead (TensorFlow's losses on the logits of a
  softmax), or None for the op's own node.
- `tuple_valued`: the op's value is a tuple of arrays (a loop's outputs), read through item ops;
  its gradient is a tuple too, summed item by item.
- `merge`: for ops that gradient rules build, `merge(B, a, b) -> node or None`: one node for the
  sum of two of its nodes (gradients placed into zeros of one shape), tried where K.gradients
  sums the gradients reaching a tensor; None: they are added.

kcore/backends.py builds each backend's namespace from this registry over a kernel provider.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable

REGISTRY: dict[str, Op] = {}


@dataclasses.dataclass(eq=False)
class Op:
    name: str
    impl: Callable
    kernels: bool = False
    native: tuple | None = None
    shape: Callable | None = None
    side_effect: bool = False
    gradient: Callable | None = None
    tuple_valued: bool = False
    build: Callable | None = None
    merge: Callable | None = None
    signature: inspect.Signature = dataclasses.field(init=False, repr=False)
    _calls: dict = dataclasses.field(init=False, repr=False, default_factory=dict)

    def __post_init__(self):
        if self.side_effect and self.shape is None:
            raise TypeError(f"op {self.name}: an op with side effects needs a shape rule")
        signature = inspect.signature(self.impl)
        params = list(signature.parameters.values())
        if self.kernels and [p.name for p in params[:1]] != ["kern"]:
            raise TypeError(f"op {self.name}: an op on the kernel providers takes `kern` first")
        # The signature the backends give the op (without `kern`).
        self.signature = signature.replace(parameters=params[1:] if self.kernels else params)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in ("impl", "native", "kernels") and "_calls" in self.__dict__:
            self._calls.clear()  # (Op.on's calls hold the old ones)

    def eager(self, kern, *args, **kwargs):
        """The op on concrete values: the provider's entry, then the eager function."""
        if kwargs:
            if self.native is None:
                return self.impl(kern, *args, **kwargs) if self.kernels else self.impl(*args, **kwargs)
            bound = self.signature.bind(*args, **kwargs)  # (the entries take their arguments by position)
            bound.apply_defaults()
            args = tuple(bound.arguments.values())
        return self.on(kern)(*args)

    def on(self, kern) -> Callable:
        """eager(kern, ...) for positional arguments, with the provider's entry looked up once per
        provider: what a recorded schedule calls for each node."""
        call = self._calls.get(id(kern))
        if call is None:
            call = self._calls.setdefault(id(kern), self._call_on(kern))
        return call

    def _call_on(self, kern) -> Callable:
        impl = self.impl
        if self.native is None:
            return functools.partial(impl, kern) if self.kernels else impl
        entry, lead, kernels = getattr(kern, self.native[0]), self.native[1:], self.kernels

        def call(*args):
            try:
                r = entry(*lead, *args)
            except OverflowError:  # (a number past a C double's range: `impl` names it; backends.bind too)
                r = None
            if r is not None:
                return r
            return impl(kern, *args) if kernels else impl(*args)

        return call

    def __repr__(self):
        return f"<kcore op {self.name}>"


def run(name: str, kern, *args, **kwargs):
    """Op `name` on concrete values with provider `kern`, its entry first: how one op's eager
    function computes with others."""
    return REGISTRY[name].eager(kern, *args, **kwargs)


def op(name: str | None = None, *, kernels: bool = False, native: tuple | None = None, shape: Callable | None = None,
       side_effect: bool = False, tuple_valued: bool = False, merge: Callable | None = None):
    """Registers the decorated eager function as an op (see the module docstring); returns it
    unchanged, so family modules can call each other's eager functions directly."""
    def register(fn):
        key = name or fn.__name__
        if key in REGISTRY:
            raise ValueError(f"op {key} is registered twice")
        REGISTRY[key] = Op(key, fn, kernels=kernels, native=native, shape=shape, side_effect=side_effect,
                            tuple_valued=tuple_valued, merge=merge)
        return fn

    return register
