"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with code 2.

    The message should say what was wrong and what to do instead.
    """


class NonFiniteError(UserError):
    """A NaN or an infinity where training needs finite numbers: in what an env returned, or in a
    loss or gradient. The run stops at once; its last good checkpoint is kept."""


TRACEBACK_VARIABLE = "MARLZOO_TRACEBACK"


class EnvCodeError(UserError):
    """An exception raised inside an env's own code (its import, factory, ``reset`` or ``step``),
    told in one line; ``MARLZOO_TRACEBACK=1`` makes the CLI print the original traceback too."""

    def __init__(self, env_id: str, phase: str, exc: BaseException) -> None:
        super().__init__(f"env '{env_id}' raised {type(exc).__name__} in its {phase}: {exc} "
                         f"(set {TRACEBACK_VARIABLE}=1 for the full traceback)")


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM after writing a checkpoint. The message says how to go on;
    ``signal`` is the signal's number (the CLI exits with 128 + it, as a shell does)."""

    def __init__(self, message: str, signal: int) -> None:
        super().__init__(message)
        self.signal = signal
