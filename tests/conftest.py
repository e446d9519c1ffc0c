"""Seeds every source of randomness the tests use (hypothesis included: its examples are derived, not drawn)."""
import random

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("symbp", derandomize=True, print_blob=True)
settings.load_profile("symbp")

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _seed():
    random.seed(1234)
    np.random.seed(1234)
