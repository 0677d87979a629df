import os

# Streaming stores start at the last-level cache's size; tests put their shapes on both sides of
# the threshold (tests/limits.py), so a small one keeps them small. Set before kcore loads.
os.environ.setdefault("KCORE_STREAM_BYTES", str(1 << 20))

import numpy as np
import pytest
from hypothesis import settings

import profiles

settings.load_profile(profiles.ACTIVE)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def threads():
    """Restores the process-wide thread count after a test changes it."""
    import kcore

    before = kcore.get_num_threads()
    yield kcore
    kcore.set_num_threads(before)


@pytest.fixture(autouse=True)
def _learning_phase():
    """A test that sets the learning phase (K.set_learning_phase) leaves it as it found it: later
    tests build graphs on the learning-phase placeholder."""
    from kcore import _state

    before = _state.learning_phase
    yield
    _state.learning_phase = before
