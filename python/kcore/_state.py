"""Process state shared by every backend instance: uids, learning phase, initialisation mode."""
from __future__ import annotations

import collections
import threading

_lock = threading.Lock()
uids: collections.defaultdict = collections.defaultdict(int)
learning_phase = 0  # tf_keras (eager) returns the int 0 unless set
manual_variable_initialization = False


def get_uid(prefix: str = "") -> int:
    with _lock:
        uids[prefix] += 1
        return uids[prefix]


def reset_uids() -> None:
    with _lock:
        uids.clear()
