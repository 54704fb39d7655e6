"""The bad-input corpus: every kind of bad input gets a clear refusal, never a traceback or wrong money.

Entries live in tests/bad_input/*.toml (format in its README). Each is run through the command line,
in-process with click's runner, or as a real process when it sets ``env`` or ``subprocess``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medins.cli import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from medins.loader import resolve_rules_dir

HERE = Path(__file__).parent / "bad_input"
sys.path.insert(0, str(HERE))
import kit  # noqa: E402


def _entries() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for path in sorted(HERE.glob("*.toml")):
        for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("case", []):
            assert entry["id"] not in seen, f"{path.name}: duplicate id {entry['id']}"
            seen.add(entry["id"])
            out.append((f"{path.stem}:{entry['id']}", entry))
    return out


ENTRIES = _entries()
SHIPPED = resolve_rules_dir(None)


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{shipped}", str(SHIPPED))


def _write(tmp: Path, name: str, spec: Any) -> None:
    target = tmp / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        target.write_bytes(_fill(spec, tmp).encode("utf-8"))
        return
    if "copy" in spec:
        src = SHIPPED if spec["copy"] == "shipped" else Path(_fill(spec["copy"], tmp))
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(src, target)
        return
    if "from" in spec:
        src = spec["from"]
        path = SHIPPED / src.removeprefix("rules/") if src.startswith("rules/") else tmp / src
        text = path.read_text(encoding="utf-8")
        for old, new in spec.get("sub", []):
            assert old in text, f"{name}: {old!r} not in {src}"
            text = text.replace(old, new, spec.get("count", 1) if "count" in spec else -1)
        target.write_text(text + spec.get("append", ""), encoding="utf-8")
        return
    if "text" in spec:
        target.write_bytes(_fill(spec["text"], tmp).encode(spec.get("encoding", "utf-8")))
    elif "parts" in spec:
        target.write_bytes(b"".join(_fill(text, tmp).encode(enc) for enc, text in spec["parts"]))
    elif "hex" in spec:
        target.write_bytes(bytes.fromhex(spec["hex"]))
    elif "expr" in spec:
        value = eval(spec["expr"], {**vars(kit), "tmp": tmp})  # the corpus is the project's own text
        data = value if isinstance(value, bytes) else value.encode(spec.get("encoding", "utf-8"))
        target.write_bytes(data)
    elif "xlsx" in spec:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        for row in spec["xlsx"]:
            ws.append(row)
        wb.save(target)
    elif "symlink" in spec:
        target.symlink_to(_fill(spec["symlink"], tmp))
    elif "mkdir" in spec:
        target.mkdir(exist_ok=True)
    else:
        raise AssertionError(f"{name}: unknown file spec {spec}")
    if "mode" in spec:
        target.chmod(int(spec["mode"], 8))


def _run(entry: dict[str, Any], tmp: Path) -> tuple[int, str]:
    args = [_fill(a, tmp) for a in entry["args"]]
    lang = entry.get("lang", "en")
    env = {"MEDINS_LANG": lang, **{k: _fill(v, tmp) for k, v in entry.get("env", {}).items()}}
    if entry.get("subprocess") or "env" in entry:
        full_env = {k: v for k, v in os.environ.items() if k != "MEDINS_RULES"}
        full_env.update(env)
        proc = subprocess.run(
            [sys.executable, "-m", "medins", *args],
            input=entry.get("stdin", "").encode(),
            capture_output=True,
            env=full_env,
            cwd=tmp,
            timeout=120,
        )
        out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        return proc.returncode, out
    old = Path.cwd()
    os.chdir(tmp)
    try:
        result = CliRunner().invoke(cli, args, env=env, input=entry.get("stdin"))
    finally:
        os.chdir(old)
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        out += "\nTraceback (in-process):\n" + "".join(traceback.format_exception(result.exception))
    return result.exit_code, out


def _rejects(args: list[str], tmp: Path) -> list[dict[str, str]]:
    """The rejects file a batch wrote: --rejects, else OUT with .rejects before the extension."""
    path: Path | None = None
    for flag in ("--rejects",):
        if flag in args:
            path = Path(args[args.index(flag) + 1])
    if path is None:
        for flag in ("-o", "--out"):
            if flag in args:
                out = Path(args[args.index(flag) + 1])
                path = out.with_name(f"{out.stem}.rejects{out.suffix}")
    if path is None or not path.is_file() or path.suffix != ".csv":
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(("name", "entry"), ENTRIES, ids=[n for n, _ in ENTRIES])
def test_bad_input(name: str, entry: dict[str, Any], tmp_path: Path) -> None:
    for file_name, spec in entry.get("files", {}).items():
        _write(tmp_path, file_name, spec)
    code, out = _run(entry, tmp_path)
    rejects = _rejects([_fill(a, tmp_path) for a in entry["args"]], tmp_path)
    reasons = "\n".join(" | ".join(r.values()) for r in rejects)
    shown = out + "\n" + reasons
    assert "Traceback" not in shown, shown
    assert code == entry["exit"], f"exit {code}, expected {entry['exit']}\n{shown}"
    for word in entry.get("must", []):
        assert _fill(word, tmp_path).lower() in shown.lower(), f"{word!r} not in:\n{shown}"
    for word in entry.get("must_not", []):
        assert _fill(word, tmp_path).lower() not in shown.lower(), f"{word!r} in:\n{shown}"
    if "reject" in entry:
        want = entry["reject"]
        match = [
            r
            for r in rejects
            if all(str(r.get(k, "")) == str(v) for k, v in want.items() if k in ("file", "row", "column", "bill_id"))
        ]
        assert match, f"no reject row {want} in:\n{reasons}"


def test_corpus_size() -> None:
    """The corpus covers at least 150 kinds of bad input, across every area."""
    assert len(ENTRIES) >= 150, len(ENTRIES)
    areas = {name.split(":")[0] for name, _ in ENTRIES}
    assert {"batch", "case", "flags", "rules"} <= areas, areas


def test_kit_bases_are_valid(tmp_path: Path) -> None:
    """The kit's bases settle cleanly: an entry's only fault is the one it adds."""
    (tmp_path / "bills.csv").write_text(kit.bills_csv({}), encoding="utf-8")
    (tmp_path / "items.csv").write_text(kit.items_csv({}), encoding="utf-8")
    (tmp_path / "case.toml").write_text(kit.case_toml(), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(cli, ["estimate", str(tmp_path / "case.toml")])
    assert r.exit_code == 0, r.output
    for extra in ([], ["--items", str(tmp_path / "items.csv")]):
        r = runner.invoke(cli, ["batch", str(tmp_path / "bills.csv"), *extra, "-o", str(tmp_path / "o.csv"), "--quiet"])
        assert r.exit_code == 0, r.output
