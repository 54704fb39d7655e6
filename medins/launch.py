"""The ``medins`` command's process: its imports made without the cyclic garbage collector.

Importing the command, click, pydantic and the rules' models makes some hundreds of thousands of
objects that live as long as the process. A collection while they are made finds no garbage, and
the collections the allocation counts set off cost a quick ``medins estimate`` about a tenth of its
time; in a batch, each full collection walks them all again. So :func:`main` holds the collector off
until the command is chosen, and :func:`imports_done` sets everything that exists by then aside
(``gc.freeze``: never walked again) and turns the collector back on, for commands that may run long
and make garbage. A quick command (one case) ends with the collector still off.

A command that may run long also has glibc keep one heap for its threads (``procs.one_heap``). In
any other process (a program using the library, the tests) nothing here runs and
:func:`imports_done` does nothing.
"""

from __future__ import annotations

import gc

_held = False
_one_heap = False


def main() -> None:
    """Entry point of the ``medins`` console script and ``python -m medins``."""
    global _held
    gc.disable()
    _held = True
    from medins.cli import main as run

    run()


def imports_done() -> None:
    """A command's modules are imported: set aside what exists and collect from here on.

    It may be called again after further imports (a batch imports polars and numpy when it opens its
    files): what they made is set aside too. The first call also has glibc keep one heap for the
    threads the command may start (``procs.one_heap``: before any is). Only in a process :func:`main`
    started."""
    global _one_heap
    if _held:
        if not _one_heap:
            from medins.procs import one_heap

            one_heap()
            _one_heap = True
        gc.freeze()
        gc.enable()
