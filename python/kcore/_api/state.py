"""Session state: uids, the learning phase, initialisation mode (kcore/_state.py). Plain
functions, the same in every backend."""
from __future__ import annotations

import contextlib
import functools
import numbers

import numpy as np

from kcore import _graph, _state
from kcore import _validate as V
from kcore._graph import Placeholder

PUBLIC = ("get_uid", "reset_uids", "clear_session", "learning_phase", "set_learning_phase",
          "manual_variable_initialization", "symbolic", "eager", "name_scope", "control_dependencies")


def get_uid(prefix=""):
    """1, 2, 3, ... for each prefix (per session)."""
    if not isinstance(prefix, str):
        raise TypeError(f"get_uid: prefix must be a str, got {prefix!r}")
    return _state.get_uid(prefix)


def reset_uids():
    _state.reset_uids()


def clear_session():
    """Resets uids, the learning phase and name scopes (graphs are values: nothing else to reset)."""
    _state.reset_uids()
    _state.learning_phase = None
    _state.learning_phase_placeholder = None


def learning_phase():
    """The value set by set_learning_phase, else a boolean scalar placeholder (Keras's training
    functions feed it 1; unfed it is 0), as Keras on TensorFlow."""
    if _state.learning_phase is not None:
        return _state.learning_phase
    with _state._lock:
        if _state.learning_phase_placeholder is None:
            _state.learning_phase_placeholder = Placeholder((), "bool", name="keras_learning_phase",
                                                            default=np.bool_(False))
        return _state.learning_phase_placeholder


def set_learning_phase(value):
    if not isinstance(value, (numbers.Integral, np.bool_)) or value not in (0, 1):
        raise ValueError(f"set_learning_phase: Expected learning phase to be 0 or 1. Got {value!r}.")
    _state.learning_phase = int(value)


def manual_variable_initialization(value):
    _state.manual_variable_initialization = V.flag(value, "manual_variable_initialization", "value")


def _in_mode(func, fn: str, building: bool):
    V.function(func, fn, "func")

    @functools.wraps(func)
    def run(*args, **kwargs):
        with _graph.building(building):
            return func(*args, **kwargs)

    return run


def symbolic(func):
    """Runs func building a graph, as Keras on TensorFlow runs it in graph mode: ops are
    mode-agnostic already, but K.update* of a plain value inside give an update applied each time a
    K.function runs it instead of changing the variable at once (Keras 2.3.1's optimizers build
    `K.update_add(self.iterations, 1)` so)."""
    return _in_mode(func, "symbolic", True)


def eager(func):
    """Runs func out of a K.symbolic function's graph building: K.update* of plain values apply at
    once inside it."""
    return _in_mode(func, "eager", False)


@contextlib.contextmanager
def name_scope(name):
    """Variables, placeholders and tensors created inside are named 'name/...' (scopes nest);
    yields the scope's prefix, e.g. 'outer/name/'. As in TensorFlow, a name may hold '/' (Keras's
    DenseNet names a layer 'conv1/conv': nested scopes), and one ending in '/' is the whole prefix,
    not nested in the enclosing scopes."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name_scope: expects a non-empty name, got {name!r}")
    saved = list(_graph._scopes)
    if name.endswith("/"):
        _graph._scopes[:] = [name.rstrip("/")] if name.strip("/") else []
    else:
        _graph._scopes.append(name)
    try:
        yield _graph.scoped("")
    finally:
        _graph._scopes[:] = saved


@contextlib.contextmanager
def control_dependencies(control_inputs):
    """Tensors created inside are computed after control_inputs: updates among them are applied
    first (a metric's result reads its variables after its update_state), as on TensorFlow."""
    items, stack = [], [] if control_inputs is None else [control_inputs]
    while stack:  # (nested lists and tuples of tensors, variables and updates, as Keras's metrics give)
        o = stack.pop()
        if isinstance(o, (_graph.Operators, _graph.Update)):
            items.append(o)
        elif type(o) in (list, tuple):
            stack.extend(reversed(o))
        else:
            raise TypeError(f"control_dependencies: control_inputs must be tensors, variables or updates (or "
                            f"lists of them), got {type(o).__name__}")
    _graph._control.append(items)
    try:
        yield
    finally:
        _graph._control.pop()
