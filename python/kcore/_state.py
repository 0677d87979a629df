"""Process state shared by every backend instance: uids, learning phase, initialisation mode."""
from __future__ import annotations

import collections
import threading

_lock = threading.Lock()
uids: collections.defaultdict = collections.defaultdict(int)
# The learning phase set by K.set_learning_phase (None: not set, then it is the placeholder below,
# fed per call by Keras's training functions and 0 when not fed).
learning_phase: int | None = None
learning_phase_placeholder = None
manual_variable_initialization = False


def get_uid(prefix: str = "") -> int:
    with _lock:
        uids[prefix] += 1
        return uids[prefix]


def reset_uids() -> None:
    with _lock:
        uids.clear()
