"""symbp: a symbolic derivation checker for backpropagation."""
from .errors import SymbpError
from .network import Network

__version__ = "0.1.0"
__all__ = ["Network", "SymbpError", "__version__"]
