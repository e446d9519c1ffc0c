"""Seeds every source of randomness the tests use."""
import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    random.seed(1234)
    np.random.seed(1234)


pytest_plugins = ["pytester"]
