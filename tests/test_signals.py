"""A batch ends cleanly however it ends: signals, a killed parent or worker, a held lock, a write error.

The process tests run ``python -m medins batch`` on a generated input large enough to be still
settling when the signal arrives; they wait until settling has begun (OUT's temporary file exists
and, with ``--jobs 2``, both workers run), then send the signal, and check the exit code, the one
line on stderr, that no worker is left and that no temporary file or folder is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from medins import procs, tabular
from medins.batch import tables as batch_tables
from medins.cli import cli
from medins.procs import Interrupted

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent / "bad_input"))
import kit  # noqa: E402

LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="reads processes from /proc")
BILLS = 10_000
"""Enough bills for a run to settle for a few seconds on a slow machine: the signal comes first."""


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, generate_month: Any) -> Path:
    """bills.csv and items.csv from benchmarks/generate.py."""
    folder = tmp_path_factory.mktemp("big")
    generate_month(BILLS, 3, 7, folder)
    return folder


def _stat(pid: int) -> list[str] | None:
    """State and parent of a process (fields after the command name), None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")  # a zombie has ended, only not yet reaped


def _children(pid: int) -> list[int]:
    """The worker processes of ``pid`` (not multiprocessing's resource tracker, which a fresh-started
    worker brings along and which ends with the parent)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                try:
                    command = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"resource_tracker" not in command:
                    kids.append(int(entry))
    return kids


def _all_gone(pids: list[int], within: float) -> list[int]:
    """The pids still running after ``within`` seconds (checked every tenth of a second)."""
    deadline = time.monotonic() + within
    while True:
        left = [p for p in pids if _alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


class Run:
    """``medins batch BILLS --items ITEMS -o out/out.csv --jobs N`` as a real process."""

    def __init__(self, tmp: Path, data: Path, jobs: int, lang: str = "en") -> None:
        self.out = tmp / "out"
        self.tmpdir = tmp / "tmp"
        self.out.mkdir()
        self.tmpdir.mkdir()
        self.jobs = jobs
        env = {k: v for k, v in os.environ.items() if k != "MEDINS_RULES"}
        # on a hang, SIGABRT makes the process print where each of its threads is (see ``signal``)
        env.update(TMPDIR=str(self.tmpdir), MEDINS_LANG=lang, PYTHONFAULTHANDLER="1")
        self.stderr = tmp / "stderr.txt"
        args = [sys.executable, "-m", "medins", "batch", str(data / "bills.csv"), "--items", str(data / "items.csv")]
        args += ["-o", str(self.out / "out.csv"), "--summary", str(self.out / "summary.json")]
        # the least memory: persons are split into many partitions, settled by the workers
        args += ["--jobs", str(jobs), "--memory", "16M", "--quiet"]
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp)
        self.workers: list[int] = []

    def settling(self) -> None:
        """Wait until the run settles bills: OUT's temporary exists and the workers run."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ended before the signal: {self.proc.returncode} {self.errors()}"
            temps = list(self.out.glob(".out.csv.*.tmp"))
            self.workers = _children(self.proc.pid) if self.jobs > 1 else []
            # with --jobs N this process settles a share of the partitions beside N - 1 workers
            if temps and len(self.workers) >= self.jobs - 1:
                return
            time.sleep(0.05)
        raise AssertionError("the run did not start settling")

    def signal(self, signum: int) -> tuple[int, float]:
        """Send ``signum`` to the main process; its exit code and how long it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGABRT)  # faulthandler prints every thread's stack
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.kill()
            raise AssertionError(f"still running 5 s after signal {signum}: {self.errors()}") from None
        return code, time.monotonic() - start

    def errors(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        for pid in [self.proc.pid, *self.workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def left_behind(self) -> tuple[list[str], list[str]]:
        """Files beside the outputs, and medins folders in the temporary folder."""
        return sorted(os.listdir(self.out)), sorted(p for p in os.listdir(self.tmpdir) if p.startswith("medins-"))


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """Runs a test started: whatever happens, none of their processes outlives the test."""
    started: list[Run] = []
    yield started
    for run in started:
        if run.proc.poll() is None or any(_alive(p) for p in run.workers):
            run.kill()


# ----------------------------------------------------------------------------- signals


@linux_only
@pytest.mark.parametrize(
    ("jobs", "signum", "code", "lang", "line"),
    [
        (2, signal.SIGINT, 130, "en", "medins: error: interrupted: no output written"),
        (2, signal.SIGTERM, 143, "en", "medins: error: interrupted: no output written"),
        (1, signal.SIGINT, 130, "en", "medins: error: interrupted: no output written"),
        (1, signal.SIGTERM, 143, "zh", "medins: 错误: 已中断：未写出任何输出文件"),
    ],
    ids=["jobs2-sigint", "jobs2-sigterm", "jobs1-sigint", "jobs1-sigterm-zh"],
)
def test_a_signal_stops_the_run_cleanly(
    big: Path, tmp_path: Path, runs: list[Run], jobs: int, signum: int, code: int, lang: str, line: str
) -> None:
    run = Run(tmp_path, big, jobs, lang)
    runs.append(run)
    run.settling()
    exit_code, took = run.signal(signum)
    assert exit_code == code, run.errors()
    assert took < 5
    assert run.errors() == line + "\n"
    assert _all_gone(run.workers, 10) == []
    assert run.left_behind() == ([], [])


@linux_only
def test_workers_end_when_the_parent_is_killed(big: Path, tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path, big, 2)
    runs.append(run)
    run.settling()
    assert run.signal(signal.SIGKILL)[0] == -signal.SIGKILL
    assert len(run.workers) == 1  # --jobs 2: this process and one worker
    assert _all_gone(run.workers, 10) == []
    # SIGKILL leaves the temporaries; the next run writing the same outputs removes them under its lock
    assert list(run.out.glob(".out.csv.*.tmp"))
    (tmp_path / "small.csv").write_text(kit.bills_csv({}), encoding="utf-8")
    args = ["batch", str(tmp_path / "small.csv"), "-o", str(run.out / "out.csv"), "--summary"]
    again = subprocess.run(
        [sys.executable, "-m", "medins", *args, str(run.out / "summary.json")],
        capture_output=True,
        env={**os.environ, "TMPDIR": str(run.tmpdir), "MEDINS_LANG": "en"},
        timeout=60,
    )
    assert again.returncode == 0, again.stderr.decode()
    assert sorted(os.listdir(run.out)) == ["out.csv", "out.rejects.csv", "summary.json"]


@linux_only
def test_a_worker_that_dies_stops_the_run(big: Path, tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path, big, 2)
    runs.append(run)
    run.settling()
    os.kill(run.workers[0], signal.SIGKILL)
    try:
        exit_code = run.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the run hangs after its worker died: {run.errors()}") from None
    assert exit_code == 1
    assert run.errors() == (
        "medins: error: --jobs: a worker process ended unexpectedly (killed by SIGKILL); no output written; "
        "run again; if it happens again, run with --jobs 1 (the system ends processes when memory runs out)\n"
    )
    assert _all_gone(run.workers, 10) == []
    assert run.left_behind() == ([], [])


@linux_only
def test_a_worker_ends_by_itself_when_its_parent_is_gone(tmp_path: Path) -> None:
    """Without the kernel's help (PR_SET_PDEATHSIG turned off), the worker notices it was orphaned."""
    script = tmp_path / "orphan.py"
    script.write_text(
        "import multiprocessing, os, signal, time\n"
        "from medins import procs\n"
        "procs._die_with_parent = lambda: None\n"
        "def work(inbox, parent):\n"
        "    procs.worker_started(parent)\n"
        "    procs.receive(inbox, parent)\n"
        "if __name__ == '__main__':\n"
        "    ctx = multiprocessing.get_context('fork')\n"
        "    worker = ctx.Process(target=work, args=(ctx.Queue(), os.getpid()))\n"
        "    worker.start()\n"
        "    print(worker.pid, flush=True)\n"
        "    time.sleep(0.3)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == -signal.SIGKILL, result.stderr
    worker = int(result.stdout.split()[0])
    assert _all_gone([worker], procs.PARENT_CHECK * 5) == []


def test_a_signal_while_outputs_are_moved_waits_for_the_move() -> None:
    reached: list[str] = []

    @procs.interruptible
    def job() -> None:
        with procs.critical(written=True):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            reached.append("moved")
        reached.append("after")

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught:
        job()
    assert reached == ["moved"]
    assert caught.value.exit_code == 143
    assert caught.value.render("en") == "interrupted after all outputs were written"
    assert signal.getsignal(signal.SIGTERM) == before


# ----------------------------------------------------------------------------- the output lock


def _bills(tmp_path: Path) -> Path:
    path = tmp_path / "bills.csv"
    path.write_text(kit.bills_csv({}, {}), encoding="utf-8")
    return path


def _batch(*args: Any) -> Any:
    return CliRunner().invoke(cli, ["batch", *map(str, args), "--quiet", "--lang", "en"])


def test_a_second_run_on_the_same_outputs_stops_at_once(tmp_path: Path) -> None:
    bills, out = _bills(tmp_path), tmp_path / "out.csv"
    with procs.output_lock([out]):
        assert (tmp_path / ".out.csv.lock").read_text() == f"{os.getpid()}\n"
        result = _batch(bills, "-o", out)
        assert result.exit_code == 1
        assert result.stderr == (
            f"medins: error: {out}: another medins batch (process {os.getpid()}) is writing this output now; "
            "wait until it has finished, or choose another output name (lock file .out.csv.lock)\n"
        )
        assert sorted(os.listdir(tmp_path)) == [".out.csv.lock", "bills.csv"]
    assert sorted(os.listdir(tmp_path)) == ["bills.csv"]
    result = _batch(bills, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["bills.csv", "out.csv", "out.rejects.csv"]


def test_the_lock_covers_every_output(tmp_path: Path) -> None:
    bills, summary = _bills(tmp_path), tmp_path / "summary.json"
    with procs.output_lock([summary]):
        result = _batch(bills, "-o", tmp_path / "other.csv", "--summary", summary)
    assert result.exit_code == 1
    assert f"{summary}: another medins batch" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["bills.csv"]


# ----------------------------------------------------------------------------- write errors


@pytest.fixture
def old_outputs(tmp_path: Path) -> dict[str, bytes]:
    """Outputs of an earlier run, which a failed run must leave as they were."""
    old = {"out.csv": b"old out\n", "out.rejects.csv": b"old rejects\n", "summary.json": b"{}\n"}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    return old


def _files(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "bills.csv"}


def test_disk_full_while_writing_out(
    tmp_path: Path, old_outputs: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    class FullDisk:
        """A CSV writer on a disk that fills up after the header row."""

        def __init__(self, f: Any, *args: Any, **kwargs: Any) -> None:
            self.real = csv.writer(f, *args, **kwargs)
            self.rows = 0

        def writerow(self, row: Any) -> Any:
            self.rows += 1
            if self.rows > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.real.writerow(row)

    class FullFile:
        """The output file on that disk, for rows written as formatted lines (the columns path)."""

        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, text: str | bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        @property
        def buffer(self) -> Any:
            return self  # lines formatted as UTF-8 go to the bytes beneath the text: the same disk

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

    real_init = tabular.TableWriter.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        if self.kind == "csv":
            self._f = FullFile(self._f)

    monkeypatch.setattr(tabular, "csv", SimpleNamespace(**{**vars(csv), "writer": FullDisk}))
    monkeypatch.setattr(tabular.TableWriter, "__init__", init)
    out = tmp_path / "out.csv"
    result = _batch(_bills(tmp_path), "-o", out, "--summary", tmp_path / "summary.json")
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: error: {out}: cannot write this output: the disk is full (No space left on device); "
        "no output was changed; free some space, or write to a folder on another disk "
        "(the temporary folder, TMPDIR, needs space too)\n"
    )
    assert _files(tmp_path) == old_outputs


def test_disk_full_while_writing_the_summary(
    tmp_path: Path, old_outputs: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path.write_text

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name.startswith(".summary.json."):
            raise OSError(errno.ENOSPC, "No space left on device")  # as a full disk reports it: no file name
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    summary = tmp_path / "summary.json"
    result = _batch(_bills(tmp_path), "-o", tmp_path / "out.csv", "--summary", summary)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"medins: error: {summary}: cannot write this output: the disk is full")
    assert _files(tmp_path) == old_outputs


def test_a_failed_move_puts_back_the_outputs_already_moved(
    tmp_path: Path, old_outputs: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of the moves fails (a file open in Excel on Windows): the first is undone."""
    real = os.replace
    moves: list[str] = []

    def replace(src: Any, dst: Any) -> None:
        moves.append(str(dst))
        if len(moves) == 2:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    rejects = tmp_path / "out.rejects.csv"
    result = _batch(_bills(tmp_path), "-o", tmp_path / "out.csv", "--summary", tmp_path / "summary.json")
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: error: {rejects}: cannot write this output: no permission to write it (Permission denied); "
        "no output was changed; choose a folder you may write in; if the file is open in Excel, close it first\n"
    )
    assert moves[:2] == [str(tmp_path / "out.csv"), str(rejects)]
    assert _files(tmp_path) == old_outputs


def test_a_folder_that_refuses_new_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root, chmod cannot make a folder unwritable: the refusal is simulated where the file is made."""

    def mkstemp(**kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    out = tmp_path / "out.csv"
    result = _batch(_bills(tmp_path), "-o", out)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"medins: error: {out}: cannot write this output: no permission to write it")
    assert sorted(os.listdir(tmp_path)) == ["bills.csv"]


def test_disk_full_while_copying_a_workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(kit.BILL))
    sheet.append(list(kit.BILL.values()))
    book.save(tmp_path / "bills.xlsx")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

    def spool(*args: Any, **kwargs: Any) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch_tables, "spool_xlsx", spool)
    result = _batch(tmp_path / "bills.xlsx", "-o", tmp_path / "out.csv")
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: error: {tmp_path / 'tmp'}: cannot write a temporary file (No space left on device); "
        "free some space there, or set TMPDIR to a folder on a disk with space\n"
    )
    assert os.listdir(tmp_path / "tmp") == []


@linux_only
def test_a_signal_a_library_wraps_still_interrupts() -> None:
    """pydantic's serializer turns a ``Stop`` raised inside it into its own error: the run still ends
    as interrupted (exit 130), not with that error's traceback (seen once in a hundred runs)."""

    @procs.interruptible
    def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises Stop here
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error serializing to JSON: Stop: 2") from exc

    with pytest.raises(procs.Interrupted) as info:
        work()
    assert info.value.exit_code == 130


@linux_only
def test_a_signal_swallowed_by_code_it_interrupted_still_stops_the_run(tmp_path: Path) -> None:
    """A finalizer or a library calling back into Python may swallow the ``Stop`` a signal raised in
    it (Python prints "Exception ignored" and goes on): the run still stops before its outputs are
    moved into place, with the signal's exit code, and no output is written."""
    from medins import procs
    from medins.tabular import Outputs

    target = tmp_path / "out.csv"

    @procs.interruptible
    def run() -> None:
        with Outputs() as outputs:
            outputs.temp_for(target).write_text("x")
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler raises here
            except KeyboardInterrupt:
                pass  # swallowed, as such code does
            outputs.commit()

    with pytest.raises(procs.Interrupted) as caught:
        run()
    assert caught.value.exit_code == 143
    assert not target.exists() and os.listdir(tmp_path) == []
