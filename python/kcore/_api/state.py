"""Session state: uids, the learning phase, initialisation mode (kcore/_state.py). Plain
functions, the same in every backend."""
from __future__ import annotations

from kcore import _state

PUBLIC = ("get_uid", "reset_uids", "clear_session", "learning_phase", "set_learning_phase",
          "manual_variable_initialization", "symbolic", "eager")


def get_uid(prefix=""):
    """1, 2, 3, ... for each prefix (per session)."""
    return _state.get_uid(prefix)


def reset_uids():
    _state.reset_uids()


def clear_session():
    """Resets uids and the learning phase (there is no graph to reset: graphs are values)."""
    _state.reset_uids()
    _state.learning_phase = 0


def learning_phase():
    return _state.learning_phase


def set_learning_phase(value):
    if value not in (0, 1):
        raise ValueError("Expected learning phase to be 0 or 1.")
    _state.learning_phase = int(value)


def manual_variable_initialization(value):
    _state.manual_variable_initialization = bool(value)


def symbolic(func):
    """Decorator kept for Keras compatibility: kcore functions are already mode-agnostic."""
    return func


def eager(func):
    """Decorator kept for Keras compatibility: kcore functions are already mode-agnostic."""
    return func
