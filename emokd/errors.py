"""The one exception type emokd raises for bad input."""


class EmokdError(ValueError):
    """Bad input: a file, a field or an argument that emokd cannot use.

    The message names the file (when there is one), the field and the problem.
    It subclasses :class:`ValueError`, so ``except ValueError`` catches it too.
    """
