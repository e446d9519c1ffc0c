"""Every error symbp raises on purpose; one base class, mixed with the built-in types callers expect."""


class SymbpError(Exception):
    """Base of all symbp errors: the message says what is wrong and what to do instead."""


class UsageError(SymbpError, ValueError):
    """A bad option value or combination (command line or Python API)."""


class ParseError(SymbpError, ValueError):
    """An index-level equation that cannot be read; ``where`` names the place."""

    def __init__(self, message, where=None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class IndexRangeError(SymbpError, ValueError):
    """An index outside the range the network defines for it."""


class ShapeError(SymbpError, ValueError):
    """Matrix shapes that do not fit together."""


class UnknownNameError(SymbpError, KeyError):
    """A name (activation, loss, quantity) that symbp does not know."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0])


class ClaimError(SymbpError, ValueError):
    """A claim that cannot be evaluated as written (an unknown name, an index out of range, ...)."""


class DerivationError(SymbpError, ValueError):
    """A derivation file that cannot be loaded; the message names the file, the line and the claim."""


class ClaimTimeout(SymbpError, TimeoutError):
    """A claim that took longer than its time budget."""


class NotProvable(SymbpError, ValueError):
    """A claim whose form cannot be proved for every width (a matrix product, a literal width, ...)."""


class UnknownNodeError(SymbpError, TypeError):
    """A node of the language that a stage does not handle (an evaluator, a prover, a printer)."""
