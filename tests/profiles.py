"""The hypothesis profiles (conftest.py loads the active one): `ci` where CI is set (derandomized,
more examples), else HYPOTHESIS_PROFILE, else `dev`. FAMILY_EXAMPLES is the example count of each
kernel family's differential property test (test_properties.py) under the active profile."""
import os

from hypothesis import HealthCheck, settings

ACTIVE = "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev")

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FAMILY_EXAMPLES = {"ci": 2000, "dev": 100}[ACTIVE]
