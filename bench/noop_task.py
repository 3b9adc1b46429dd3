"""The raw RQ peer's job function, alone in a module that imports nothing.

Forking rq workers import a job's module in every work horse; keeping this module empty keeps
that cost (which the engine's workers do not pay: their parent has the engine imported) out of the
raw numbers. Not a benchmark.
"""


def noop() -> None:
    """Does nothing."""
