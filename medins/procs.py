"""The batch's processes and output files: signals, worker lifetime, the output lock, write errors.

Not a step of the pipeline but what keeps a run clean however it ends:

- SIGINT and SIGTERM unwind the run like an error (``interruptible``): workers are stopped, temporary
  files and folders removed, and the command exits 130 or 143 with one line, never a traceback.
  Moving the finished outputs into place is not interrupted half-way (``critical``).
- A worker process ends when its parent ends, however the parent ends (``worker_started``,
  ``receive``), and the parent notices a worker that died (``WorkerDied``).
- Two runs never write the same output at once (``output_lock``): the second one stops at once.
- An output that cannot be written gets one line naming the file, the system's reason and a fix
  (``cannot_write``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import queue
import re
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from medins.errors import MedinsError, t

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_SIGINT, EXIT_SIGTERM = 130, 143
PARENT_CHECK = 1.0
"""Seconds a worker waits for work before it checks that its parent still runs."""


T = TypeVar("T")


@contextlib.contextmanager
def ahead(items: Iterable[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """The items of ``items``, made by a thread of their own at most ``depth`` ahead of the one in
    use: the reading of the next chunk of a file (its bytes, numpy's scans, polars' parsing, which
    mostly let go of the interpreter) then overlaps the work on this one, and no more than
    ``depth`` + 1 chunks are held at once.

    An exception raised making an item is raised in its place, after the items made before it. On
    leaving the block, however it is left, the thread is stopped (after the item it is making) and
    waited for; it never touches what the block does after. ``depth`` 0: no thread, the items made
    as they are used."""
    if depth <= 0:
        yield iter(items)
        return
    made: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
    room = threading.Semaphore(depth + 1)  # a slot per item made and not yet done with
    stop = threading.Event()
    end = object()

    def make() -> None:
        try:
            for item in _slotted(items, room, stop):
                made.put((True, item))
            made.put((True, end))
        except BaseException as exc:  # raised in the consumer's thread, at this item's place
            made.put((False, exc))

    def take() -> Iterator[T]:
        while True:
            ok, item = made.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
            room.release()  # done with it: the thread may make one more

    thread = threading.Thread(target=make, name="medins-ahead", daemon=True)
    thread.start()
    try:
        yield take()
    finally:
        stop.set()
        thread.join()


def _slotted(items: Iterable[T], room: threading.Semaphore, stop: threading.Event) -> Iterator[T]:
    """``items``, each made once a slot is free; none once ``stop`` is set."""
    it = iter(items)
    while True:
        while not room.acquire(timeout=0.05):
            if stop.is_set():
                return
        if stop.is_set():
            return
        try:
            item = next(it)
        except StopIteration:
            return
        yield item


# ----------------------------------------------------------------------------- signals


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM; a ``KeyboardInterrupt`` so ``except Exception``
    (a bill's error turned into a reject) never swallows it."""

    def __init__(self, signum: int, written: bool = False) -> None:
        super().__init__(signum)
        self.signum = signum
        self.written = written


class Interrupted(MedinsError):
    """The run was stopped by SIGINT (exit 130) or SIGTERM (exit 143)."""

    def __init__(self, signum: int, written: bool = False) -> None:
        if written:
            text = t("已中断：输出文件已全部写出", "interrupted after all outputs were written")
        else:
            text = t("已中断：未写出任何输出文件", "interrupted: no output written")
        super().__init__(text)
        self.exit_code = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT


class _State:
    """What the handlers share with ``critical``: a signal caught while it may not act yet."""

    def __init__(self) -> None:
        self.deferring = 0
        self.pending: int | None = None
        self.raised = False
        self.count = 0
        self.signum: int | None = None  # the signal raised as ``Stop``
        self.written = False
        self.active = False  # inside an ``interruptible`` run


_state = _State()
_CAUGHT = (signal.SIGINT, signal.SIGTERM)


def _handler(signum: int, _frame: FrameType | None) -> None:
    _state.count += 1
    if _state.count >= 3:
        # a third signal: the clean-up itself is stuck, end now
        os._exit(EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT)
    if _state.raised:
        return  # a second signal while the first one unwinds would interrupt the clean-up
    if _state.deferring:
        _state.pending = _state.pending or signum
        return
    _state.raised = True
    _state.signum = signum
    raise Stop(signum)


@contextlib.contextmanager
def critical(written: bool = False) -> Iterator[None]:
    """Hold off SIGINT and SIGTERM in this block; one that came meanwhile is raised at its end.

    ``written``: the block moves the outputs into place, so a signal raised after it says so.
    """
    _state.deferring += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        _state.deferring -= 1
        if ok and not _state.deferring and _state.pending is not None and not _state.raised:
            _state.raised = True
            _state.signum, _state.written = _state.pending, written
            raise Stop(_state.pending, written)


def checkpoint() -> None:
    """Raise again the ``Stop`` of a signal that code it interrupted swallowed (a finalizer, or a
    library calling back into Python, prints "Exception ignored" and goes on): the run then stops
    here, before its outputs are moved into place, as it would have."""
    if _state.active and _state.raised and _state.signum is not None and not _state.deferring:
        raise Stop(_state.signum)


def interruptible(func: F) -> F:
    """Run ``func`` with SIGINT and SIGTERM raised as ``Stop`` and turned into ``Interrupted``.

    Only the main thread can catch signals; elsewhere ``func`` runs as it is. A signal the process
    ignores (a job started with ``nohup`` or in the background) stays ignored.
    """

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            global _state
            _state = _State()
            _state.active = True
            for signum in _CAUGHT:
                old = signal.getsignal(signum)
                if old is not signal.SIG_IGN:
                    saved[signum] = old
                    signal.signal(signum, _handler)
        try:
            return func(*args, **kwargs)
        except Stop as exc:
            raise Interrupted(exc.signum, exc.written) from None
        except KeyboardInterrupt:
            raise Interrupted(signal.SIGINT) from None
        except BaseException:
            # a library that catches the ``Stop`` raised inside it and raises its own error instead
            # (pydantic's serializer does): the run was still stopped by the signal
            if _state.raised and _state.signum is not None:
                raise Interrupted(_state.signum, _state.written) from None
            raise
        finally:
            _state.active = False
            for signum, old in saved.items():
                signal.signal(signum, old)

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM while worker processes start: a forked worker takes its own handling
    first (``worker_started``), so a signal never runs the parent's handler in a worker."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _CAUGHT)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ----------------------------------------------------------------------------- workers


@functools.cache
def _libc(name: str) -> Callable[..., int] | None:
    """A function of Linux's C library, or None (another system, or a C library without it: musl has
    no ``malloc_trim`` nor ``mallopt``)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return getattr(ctypes.CDLL(None), name)  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGKILL to this process when its parent ends (PR_SET_PDEATHSIG);
    elsewhere the parent check in ``receive`` still ends the worker."""
    prctl = _libc("prctl")
    if prctl is not None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def give_back_memory() -> None:
    """Return the pages the C heap holds free to the system (glibc's ``malloc_trim``), where there is
    one: called between partitions, whose arrays leave freed pages behind that glibc would otherwise
    keep, so the next partition starts from less. On 200,000 bills in 5 partitions, six alternating
    runs each: the peak 272–277 MB against 282–291 MB without, for about 0.5 s more on average (of
    10–12 s; pairs ranged from 0.7 s less to 2 s more on this noisy machine), the pages faulted in
    again."""
    trim = _libc("malloc_trim")
    if trim is not None:
        trim(0)


def one_heap() -> None:
    """Have glibc's ``malloc`` keep one heap for all of this process's threads (``M_ARENA_MAX`` 1),
    where there is one. A thread of its own (:func:`ahead`'s reader) would otherwise get a heap of
    its own, whose freed pages count in the peak beside the main one's: 200,000 bills, four
    alternating runs each, 261 MB at the peak against 288 MB, 11.8–12.2 s against 11.1–12.6 s.
    Called as a command that may run long starts (``medins.launch.imports_done``) and first thing in
    each ``--jobs`` worker, before any thread is started; never by the library in a program using
    it."""
    mallopt = _libc("mallopt")
    if mallopt is not None:
        mallopt(-8, 1)  # -8 = M_ARENA_MAX


class Started:
    """Worker processes started by :func:`start_workers`: the pipe to each and the pipe back from
    each (by worker number, from 1), and the processes."""

    def __init__(self, to: dict[int, Any], back: dict[Any, int], workers: dict[int, Any]) -> None:
        self.to, self.back, self.workers = to, back, workers


def start_workers(jobs: int, target: str, *args: Any) -> Started:
    """Start ``jobs`` − 1 fresh processes (spawned: polars' threads do not survive a fork), each
    running ``target`` (``"module:function"``, imported there) with a pipe in, a pipe out, ``args``,
    its number and this process's id. The module is imported by the worker only: this process need
    not have imported it, so the workers' start-up overlaps its own. Each worker's polars works on
    one thread: the processes are the parallelism."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent = os.getpid()
    to: dict[int, Any] = {}
    back: dict[Any, int] = {}
    workers: dict[int, Any] = {}
    ends = []
    for k in range(1, jobs):
        inbox, to_k = ctx.Pipe(duplex=False)
        back_k, outbox = ctx.Pipe(duplex=False)
        workers[k] = ctx.Process(target=_run_worker, args=(target, inbox, outbox, *args, k, parent), daemon=True)
        to[k], back[back_k] = to_k, k
        ends += [inbox, outbox]
    threads = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = threads or "1"
    try:
        with signals_blocked():
            for w in workers.values():
                w.start()
    finally:
        if threads is None:
            del os.environ["POLARS_MAX_THREADS"]
    for end in ends:
        end.close()
    return Started(to, back, workers)


def _run_worker(target: str, *args: Any) -> None:
    import gc
    import importlib

    one_heap()
    module, name = target.split(":")
    gc.disable()  # as the command's own imports (medins.launch): what they make lives as long as the worker
    run = getattr(importlib.import_module(module), name)
    gc.freeze()
    gc.enable()
    run(*args)


def worker_started(parent: int) -> None:
    """First thing in a worker: end with the parent, leave Ctrl-C to the parent, die on SIGTERM."""
    _die_with_parent()
    if parent_gone(parent):
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers itself
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _CAUGHT)


def parent_gone(parent: int) -> bool:
    """Whether the process that started this worker has ended (the worker was handed to another)."""
    return os.getppid() != parent


def receive(inbox: Any, parent: int) -> Any:
    """The next message of a worker's inbox; the worker ends at once if its parent has ended."""
    while True:
        try:
            return inbox.get(timeout=PARENT_CHECK)
        except queue.Empty:
            if parent_gone(parent):
                # no exit handlers: they would wait to flush results nobody reads any more
                os._exit(1)


class WorkerDied(MedinsError):
    """A ``--jobs`` worker process ended without finishing its share: the run stops."""


def worker_died(exitcode: int | None) -> WorkerDied:
    """The error for a worker that ended with ``exitcode`` (negative: killed by that signal)."""
    if exitcode is not None and exitcode < 0:
        try:
            how = signal.Signals(-exitcode).name
        except ValueError:
            how = f"signal {-exitcode}"
        how_zh, how_en = f"被信号 {how} 终止", f"killed by {how}"
    else:
        how_zh, how_en = f"退出码 {exitcode}", f"exit code {exitcode}"
    return WorkerDied(
        t(
            f"一个结算子进程意外结束（{how_zh}），未写出任何输出文件",
            f"a worker process ended unexpectedly ({how_en}); no output written",
        ),
        "--jobs",
        t(
            "请重新运行；若再次发生，请用 --jobs 1 运行（内存不足时系统会终止进程）",
            "run again; if it happens again, run with --jobs 1 (the system ends processes when memory runs out)",
        ),
    )


# ----------------------------------------------------------------------------- output files


class OutputError(MedinsError):
    """An output file cannot be written or replaced: the run stops, old outputs stay as they were."""


def cannot_write(target: Path, exc: OSError) -> OutputError:
    """One line naming the output, the system's reason and what to do about it."""
    reason = exc.strerror or str(exc)
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG):
        what = t(f"磁盘已满（{reason}）", f"the disk is full ({reason})")
        fix = t(
            "请清理磁盘空间或改写到其他磁盘的目录（临时目录 TMPDIR 也需空间）",
            "free some space, or write to a folder on another disk (the temporary folder, TMPDIR, needs space too)",
        )
    elif code in (errno.EACCES, errno.EPERM):
        what = t(f"没有写入权限（{reason}）", f"no permission to write it ({reason})")
        fix = t(
            "请选择有写入权限的目录；若文件已在 Excel 中打开，请先关闭",
            "choose a folder you may write in; if the file is open in Excel, close it first",
        )
    elif code == errno.EROFS:
        what = t(f"磁盘为只读（{reason}）", f"the disk is read-only ({reason})")
        fix = t("请写到可写磁盘上的目录", "write to a folder on a writable disk")
    elif code == errno.ENOTDIR:
        what = t(f"路径中有一段是文件而不是目录（{reason}）", f"a part of the path is a file, not a folder ({reason})")
        fix = t("请检查输出路径", "check the output path")
    elif code == errno.EISDIR:
        what = t(f"这是一个目录（{reason}）", f"it is a folder ({reason})")
        fix = t("请给出文件名，例如 目录/out.csv", "give a file name, e.g. folder/out.csv")
    else:
        what = t(f"无法写入（{reason}）", f"cannot write it ({reason})")
        fix = t("请检查输出路径和磁盘", "check the output path and the disk")
    return OutputError(
        t(
            f"无法写出输出文件：{what.zh}；原有输出文件未改动",
            f"cannot write this output: {what.en}; no output was changed",
        ),
        str(target),
        fix,
    )


def writable_target(target: Path) -> Path:
    """The file to replace for ``target``: itself, or the file a symbolic link points to.

    Refuses a target that exists and is not a regular file (a folder, a device such as /dev/full, a
    pipe): replacing it would put a regular file where the device or link was.
    """
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise cannot_write(target, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise cannot_write(target, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(
            t(
                "输出必须是普通文件，不能是设备、管道或套接字",
                "an output must be a regular file, not a device, pipe or socket",
            ),
            str(target),
            t("请给出一个文件路径", "give a file path"),
        )
    return Path(os.path.realpath(target)) if os.path.islink(target) else target


class OutputBusy(MedinsError):
    """Another run holds the lock of an output this run would write."""


# errors about the folder the lock file is made in, which is the output's folder too
_FOLDER_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.ENOENT, getattr(errno, "EDQUOT", -1)}
)


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    try:
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    except ImportError:
        return True  # no way to lock here: run unlocked
    except OSError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _acquire(target: Path, shown: Path) -> tuple[int, Path]:
    """An open, locked lock file beside ``target``; ``OutputBusy`` when another run holds it."""
    path = _lock_path(target)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in _FOLDER_ERRNOS:
                raise cannot_write(shown, exc) from None
            raise OutputError(
                t(
                    f"无法打开此输出旁的锁文件 {path.name}（{exc.strerror or exc}）",
                    f"cannot open the lock file {path.name} beside this output ({exc.strerror or exc})",
                ),
                str(shown),
                t(f"请删除 {path}（若不是普通文件）", f"remove {path} if it is not a regular file"),
            ) from None
        if not _try_lock(fd):
            os.close(fd)
            pid = _holder(path)
            raise OutputBusy(
                t(
                    f"另一个 medins batch（进程 {pid or '?'}）正在写这个输出文件",
                    f"another medins batch (process {pid or '?'}) is writing this output now",
                ),
                str(shown),
                t(
                    f"请等它结束后再运行，或换一个输出文件名（锁文件 {path.name}）",
                    f"wait until it has finished, or choose another output name (lock file {path.name})",
                ),
            )
        # the holder before us removes the file when it is done: a lock on a removed file holds nothing
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd, path
        os.close(fd)


def _remove_stale(target: Path) -> None:
    """Remove temporaries a killed run left beside ``target``: under its lock, no live run has any."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def output_lock(targets: Iterable[Path]) -> Iterator[None]:
    """Hold an exclusive lock on each output (a hidden ``.NAME.lock`` beside it) for the block.

    A second run that would write one of the same files stops at once with ``OutputBusy`` rather than
    wait: a run that seems to hang is worse than a clear message. The lock files are removed at the
    end; one left by a killed run is harmless, as the system releases its lock with the process.
    """
    chosen: dict[Path, Path] = {}
    for target in targets:
        real = writable_target(target)
        chosen.setdefault(Path(os.path.realpath(real)), target)
    held: list[tuple[int, Path]] = []
    try:
        with critical():
            for real in sorted(chosen):
                held.append(_acquire(real, chosen[real]))
        for real in chosen:
            _remove_stale(real)
        yield
    finally:
        with critical():
            for fd, path in reversed(held):
                with contextlib.suppress(OSError):
                    path.unlink()
                os.close(fd)


@contextlib.contextmanager
def spool_folder(prefix: str = "medins-batch-") -> Iterator[str]:
    """A temporary folder (for XLSX sheets copied to CSV), removed at the end however the run ends.

    A write error inside it (the temporary disk full) names the folder and says to set TMPDIR.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        try:
            yield folder
        except OSError as exc:
            name = str(exc.filename or "")
            if name.startswith(folder) or (not name and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))):
                raise OutputError(
                    t(
                        f"无法写临时文件（{exc.strerror or exc}）",
                        f"cannot write a temporary file ({exc.strerror or exc})",
                    ),
                    str(Path(folder).parent),
                    t(
                        "请清理该目录所在磁盘，或用环境变量 TMPDIR 指定有空间的目录",
                        "free some space there, or set TMPDIR to a folder on a disk with space",
                    ),
                ) from None
            raise
