"""symbp: a symbolic derivation checker for backpropagation.

>>> from symbp import Network, verify
>>> verify(Network([3, 4, 2], activation="sigmoid", output="sigmoid", loss="bce")).ok
True
"""
from .errors import SymbpError
from .model.network import Network
from .testing import assert_backprop_holds
from .checking.verify import verify
from .verdicts import Counterexample, Report, Verdict

__version__ = "0.1.0"
__all__ = ["Counterexample", "Network", "Report", "SymbpError", "Verdict", "assert_backprop_holds", "verify", "__version__"]
