"""Time ``xent eval`` against its peers and the read-only floors, on the files of ``generate.py``.

For every data file these whole-process commands are timed, alternating (a, b, c, ..., a, b,
...) so that drift in machine load hits all of them alike, ``--runs`` rounds:

a. ``xent eval FILE --format json``;
b. ``baselines/pandas_scipy.py FILE`` -- pandas ``read_csv``/``read_parquet``,
   ``scipy.special.log_softmax`` (or a ``numpy.logaddexp`` BCE for binary), ``groupby`` mean;
c. ``baselines/pyarrow_numpy.py FILE`` -- ``pyarrow.csv.read_csv``/``parquet.read_table``,
   a hand-rolled logsumexp and ``numpy.bincount``;
d. ``baselines/polars_eval.py FILE`` -- polars' lazy scan, horizontal log-sum-exp, ``group_by``;
e. ``baselines/duckdb_sql.py FILE`` -- one duckdb SQL query: log-sum-exp per row, ``GROUP BY``;
f. ``baselines/pyarrow_read.py FILE`` -- pyarrow's read alone, no loss;
g. ``baselines/duckdb_read.py FILE`` -- duckdb's read into a table alone, no loss.

(b)-(e) are the peers; (f) and (g) the read-only floors: what parsing the file costs before
anything is computed. Ratios are judged per round: xent's time over the other command's in
the same round (the two ran back to back), the median of those per-round ratios reported with
their range; against the floor, the faster of the two read-only commands (by median).

Wall time is ``time.perf_counter`` around spawning and reaping the child; peak RSS is the
child's own ``ru_maxrss`` from ``os.wait4`` (KiB on Linux, reported in MiB as "MB"). Each file
is read once before timing so that every run sees it in the page cache. Every peer must agree
with xent on the overall and per-class losses to 1e-9 relative, or a warning is printed.

Then start-up: ``xent --version``, ``xent --help`` (target < 0.15 s) and ``xent eval`` on a
10-row CSV against ``python -c "import numpy, pyarrow.csv"`` (target within 1.5x), as medians
of 10 runs.

Usage::

    python benchmarks/run.py                          # all files, 5 rounds each
    python benchmarks/run.py --only cat10_1m.csv --runs 9
    python benchmarks/run.py --skip-baselines --json results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / "data"
BASELINES = HERE / "baselines"
PANDAS = "pandas+scipy"
PEERS = {  # commands that compute the loss, by name: their scripts in baselines/
    PANDAS: "pandas_scipy.py",
    "pyarrow+numpy": "pyarrow_numpy.py",
    "polars": "polars_eval.py",
    "duckdb SQL": "duckdb_sql.py",
}
FLOORS = {"pyarrow read only": "pyarrow_read.py", "duckdb read only": "duckdb_read.py"}
REL_TOL = 1e-9  # every peer's overall and per-class losses must agree with xent's to this
STARTUP_RUNS = 10
STARTUP_ABS_TARGETS = {"xent --version": 0.08, "xent --help": 0.15}  # seconds (issue 16)
STARTUP_REL_TARGET = 1.3  # xent eval on 10 rows vs importing numpy + pyarrow.csv


@dataclass(frozen=True)
class Target:
    """The goals for xent on one file; ratios are medians of per-round time ratios. Beyond
    these, xent must be faster than every peer (each ratio below 1)."""

    pandas: float | None = None  # xent / pandas+scipy must be <= this
    floor: float | None = None  # xent / the faster read-only floor must be <= this
    peak_mb: float | None = None  # xent peak RSS must be <= this

    def describe(self) -> str:
        parts = ["<1x peers"]
        if self.pandas is not None:
            parts.append(f"<={self.pandas:g}x pandas")
        if self.floor is not None:
            parts.append(f"<={self.floor:g}x floor")
        if self.peak_mb is not None:
            parts.append(f"<={self.peak_mb:g} MB")
        return ", ".join(parts)


FILES: dict[str, Target] = {
    "cat10_1m.csv": Target(floor=1.0),
    "cat10_1m.parquet": Target(pandas=0.5),
    "bin_10m.csv": Target(floor=1.0),
    "cat1000_100k.csv": Target(pandas=0.35, peak_mb=300),
    "cat1000_100k.parquet": Target(floor=1.2, peak_mb=500),
}


@dataclass
class Run:
    """One timed child process."""

    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Timing:
    """All runs of one command on one file."""

    command: list[str]
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    error: str | None = None
    loss: float | None = None
    per_class: dict[str, float] | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and not self.error else None

    @property
    def max_peak_mb(self) -> float | None:
        return max(self.peak_mb) if self.peak_mb and not self.error else None


def run_child(command: Sequence[str], cwd: Path | None = None) -> Run:
    """Run ``command`` to completion; its wall time and its own peak RSS (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        out.seek(0)
        err.seek(0)
        return Run(
            seconds=seconds,
            peak_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            returncode=child.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def xent_command() -> list[str]:
    """The ``xent`` script next to this interpreter, else ``python -m xent_cli``."""
    script = Path(sys.executable).parent / "xent"
    if script.exists():
        return [str(script)]
    found = shutil.which("xent")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [found]
    return [sys.executable, "-m", "xent_cli"]


def parse_result(name: str, text: str) -> tuple[float | None, dict[str, float] | None]:
    """Overall and per-class loss from xent's JSON report or a baseline's JSON line (none from
    the read-only reference, which prints its row count)."""
    data = json.loads(text)
    if name in FLOORS:
        int(data["rows"])
        return None, None
    if name == "xent":
        per_class = {
            str(c["class"]): float(c["loss"]) for c in data["classes"] if c["loss"] is not None
        }  # classes absent from the labels have no loss
        return float(data["loss"]), per_class
    return float(data["loss"]), {str(k): float(v) for k, v in data["per_class"].items()}


def clip(text: str, limit: int = 2000) -> str:
    """``text``, or its start and end if it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters ...]\n{text[-half:]}"


def warm(path: Path) -> None:
    """Read the file once so every timed run finds it in the page cache."""
    buffer = bytearray(1 << 20)  # small: this process's RSS is every child's RSS floor
    with path.open("rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def check_agreement(file: str, timings: dict[str, Timing]) -> list[str]:
    """Warnings for commands whose overall or per-class loss differs from xent's."""
    problems: list[str] = []
    ref = timings.get("xent")
    if ref is None or ref.loss is None or ref.per_class is None:
        return problems
    for name, other in timings.items():
        if name == "xent" or other.loss is None or other.per_class is None:
            continue
        diff = rel_diff(ref.loss, other.loss)
        if not diff <= REL_TOL:
            problems.append(
                f"{file}: loss of xent ({ref.loss!r}) and {name} ({other.loss!r}) differ by "
                f"{diff:.2e} relative (> {REL_TOL:g})"
            )
        if set(ref.per_class) != set(other.per_class):
            problems.append(f"{file}: xent and {name} report different sets of classes")
            continue
        worst = max(
            ((rel_diff(ref.per_class[c], other.per_class[c]), c) for c in ref.per_class),
            default=(0.0, ""),
        )
        if not worst[0] <= REL_TOL:
            problems.append(
                f"{file}: per-class loss of class {worst[1]} differs between xent and {name} by "
                f"{worst[0]:.2e} relative (> {REL_TOL:g})"
            )
    return problems


def bench_file(path: Path, runs: int, skip_baselines: bool) -> dict[str, Timing]:
    """Alternate the commands on one file, ``runs`` times each."""
    commands = {"xent": [*xent_command(), "eval", str(path), "--format", "json"]}
    if not skip_baselines:
        for name, script in {**PEERS, **FLOORS}.items():
            commands[name] = [sys.executable, str(BASELINES / script), str(path)]
    timings = {name: Timing(command) for name, command in commands.items()}
    warm(path)
    for i in range(runs):
        for name, command in commands.items():
            timing = timings[name]
            if timing.error:
                continue
            result = run_child(command)
            print(
                f"  run {i + 1}/{runs} {name:<14} {result.seconds:8.2f} s "
                f"{result.peak_mb:8.0f} MB" + ("" if result.returncode == 0 else "  FAILED"),
                flush=True,
            )
            if result.returncode != 0:
                timing.error = (
                    f"exit code {result.returncode}; stderr:\n{clip(result.stderr.rstrip())}"
                )
                continue
            timing.seconds.append(result.seconds)
            timing.peak_mb.append(result.peak_mb)
            try:
                loss, per_class = parse_result(name, result.stdout)
            except (ValueError, KeyError, TypeError) as error:
                timing.error = (
                    f"could not read the loss from stdout ({error!r}):\n{clip(result.stdout)}"
                )
                continue
            if name == "xent" and timing.loss is not None and timing.loss != loss:
                print(f"  warning: {name} gave {loss!r}, then {timing.loss!r} before")
            timing.loss, timing.per_class = loss, per_class
    return timings


def fmt_cell(timing: Timing | None, with_peak: bool = True) -> str:
    if timing is None:
        return "skipped"
    if timing.error:
        return "FAILED"
    median, peak = timing.median_s, timing.max_peak_mb
    if median is None or peak is None:
        return "n/a"
    return f"{median:.2f} ({peak:.0f})" if with_peak else f"{median:.2f}"


def round_ratios(timings: dict[str, Timing], other: str) -> list[float]:
    """xent / ``other`` within each round (the two ran back to back, so both met the same
    machine load)."""
    xent, base = timings["xent"], timings.get(other)
    if base is None or xent.error or base.error or len(xent.seconds) != len(base.seconds):
        return []
    return [x / b for x, b in zip(xent.seconds, base.seconds, strict=True)]


def fastest_floor(timings: dict[str, Timing]) -> str | None:
    """The read-only command with the smallest median time."""
    medians = {n: timings[n].median_s for n in FLOORS if n in timings}
    known = {n: m for n, m in medians.items() if m is not None}
    return min(known, key=lambda n: known[n]) if known else None


def ratios(timings: dict[str, Timing]) -> dict[str, list[float]]:
    """Per-round ratios of xent to each peer and to the faster floor (key ``floor``)."""
    out = {name: round_ratios(timings, name) for name in PEERS if name in timings}
    floor = fastest_floor(timings)
    if floor is not None:
        out["floor"] = round_ratios(timings, floor)
    return {name: r for name, r in out.items() if r}


def median_ratio(per_round: list[float] | None) -> float | None:
    return statistics.median(per_round) if per_round else None


def verdict(file: str, timings: dict[str, Timing]) -> str:
    """Whether the file's goals are met: each ratio's median against its bound."""
    target = FILES[file]
    xent = timings["xent"]
    if xent.error:
        return f"{target.describe()}: missed (xent failed)"
    medians = {name: median_ratio(r) for name, r in ratios(timings).items()}
    if not medians:
        peak = xent.max_peak_mb
        if target.peak_mb is not None and peak is not None:
            return f"{target.describe()}: memory {'met' if peak <= target.peak_mb else 'missed'}"
        return f"{target.describe()}: n/a"
    misses = [name for name in PEERS if (medians.get(name) or 0.0) >= 1.0]
    bounds = {PANDAS: target.pandas, "floor": target.floor}
    for name, bound in bounds.items():
        value = medians.get(name)
        if bound is not None and (value is None or value > bound):
            misses.append(f"{name} {fmt_ratio(value)}")
    peak = xent.max_peak_mb
    if target.peak_mb is not None and peak is not None and peak > target.peak_mb:
        misses.append(f"{peak:.0f} MB")
    state = "met" if not misses else "missed (" + ", ".join(misses) + ")"
    return f"{target.describe()}: {state}"


def fmt_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def fmt_ratios(per_round: list[float] | None) -> str:
    """Median of the per-round ratios, and their range."""
    if not per_round:
        return "n/a"
    return f"{fmt_ratio(median_ratio(per_round))} ({min(per_round):.2f}-{max(per_round):.2f})"


def results_table(results: dict[str, dict[str, Timing]]) -> str:
    """Median seconds (largest peak MB) of every command per file."""
    names = ["xent", *PEERS, *FLOORS]
    lines = [
        "| file | " + " | ".join(f"{n} s (MB)" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for file, timings in results.items():
        cells = [fmt_cell(timings.get(n)) for n in names]
        lines.append(f"| {file} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(results: dict[str, dict[str, Timing]]) -> str:
    """xent / each peer and / the faster floor: medians of per-round ratios (their range)."""
    lines = [
        "| file | " + " | ".join(f"xent / {n}" for n in PEERS) + " | xent / floor | target |",
        "|---|" + "---:|" * (len(PEERS) + 1) + "---|",
    ]
    for file, timings in results.items():
        per_round = ratios(timings)
        cells = [fmt_ratios(per_round.get(n)) for n in PEERS]
        floor = fastest_floor(timings)
        floor_cell = fmt_ratios(per_round.get("floor"))
        if floor is not None and "floor" in per_round:
            floor_cell += f" {floor.removesuffix(' read only')}"
        lines.append(
            f"| {file} | " + " | ".join(cells) + f" | {floor_cell} | {verdict(file, timings)} |"
        )
    return "\n".join(lines)


def write_tiny_csv(path: Path) -> None:
    """A fixed 10-row, 10-class logits CSV for the start-up measurement."""
    rows = ["label," + ",".join(f"logit_{j}" for j in range(10))]
    for i in range(10):
        values = [
            math.sin(1.7 * i + 0.3 * j) * 3 + (3.0 if j == i % 10 else 0.0) for j in range(10)
        ]
        rows.append(f"{i % 10}," + ",".join(f"{v:.6f}" for v in values))
    path.write_text("\n".join(rows) + "\n")


def startup(tiny: Path) -> list[dict[str, Any]]:
    """Median wall time (and peak RSS) of the start-up commands, alternating, 10 runs each."""
    xent = xent_command()
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import numpy, pyarrow.csv"': [
            sys.executable,
            "-c",
            "import numpy, pyarrow.csv",
        ],
        "xent --version": [*xent, "--version"],
        "xent --help": [*xent, "--help"],
        "xent eval tiny10.csv": [*xent, "eval", str(tiny)],
        "xent eval tiny10.csv --format json": [*xent, "eval", str(tiny), "--format", "json"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, list[float]] = {name: [] for name in commands}
    errors: dict[str, str] = {}
    for name, command in commands.items():  # one untimed run each: warm the OS caches
        result = run_child(command)
        if result.returncode != 0:
            errors[name] = f"exit code {result.returncode}; stderr:\n{clip(result.stderr.rstrip())}"
    for _ in range(STARTUP_RUNS):
        for name, command in commands.items():
            if name in errors:
                continue
            result = run_child(command)
            seconds[name].append(result.seconds)
            peaks[name].append(result.peak_mb)
    medians = {n: statistics.median(s) for n, s in seconds.items() if s}
    imports = medians.get('python -c "import numpy, pyarrow.csv"')
    out: list[dict[str, Any]] = []
    for name in commands:
        target, state, ratio = "", "", None
        median = medians.get(name)
        if name in STARTUP_ABS_TARGETS:
            limit = STARTUP_ABS_TARGETS[name]
            target = f"<= {limit:g} s"
            state = "n/a" if median is None else "met" if median <= limit else "missed"
        elif name.startswith("xent eval"):
            target = f"<= {STARTUP_REL_TARGET:g}x imports"
            if median is not None and imports:
                ratio = median / imports
                state = "met" if ratio <= STARTUP_REL_TARGET else "missed"
            else:
                state = "n/a"
        out.append(
            {
                "command": name,
                "argv": commands[name],
                "median_s": median,
                "seconds": seconds[name],
                "peak_mb": max(peaks[name]) if peaks[name] else None,
                "ratio_to_imports": ratio,
                "target": target,
                "state": "FAILED" if name in errors else state,
                "error": errors.get(name),
            }
        )
    return out


def startup_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| command | median s ({STARTUP_RUNS} runs) | peak MB | vs imports | target |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        median = "FAILED" if row["error"] else f"{row['median_s']:.3f}"
        peak = "" if row["peak_mb"] is None else f"{row['peak_mb']:.0f}"
        ratio = "" if row["ratio_to_imports"] is None else f"{row['ratio_to_imports']:.2f}x"
        target = f"{row['target']}: {row['state']}" if row["target"] else ""
        lines.append(f"| `{row['command']}` | {median} | {peak} | {ratio} | {target} |")
    return "\n".join(lines)


def git_state() -> str:
    """The commit being measured, with ``+dirty`` if ``xent_cli/`` has uncommitted changes."""
    repo = HERE.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "xent_cli"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def byte_compile() -> str:
    """Compile xent's modules to bytecode, as ``pip install`` does for a wheel (an editable
    install does not, and with PYTHONDONTWRITEBYTECODE set no run writes it): without this,
    every timed ``xent`` process compiles its ~40 modules first (60-70 ms a run, measured),
    which the peers' installed libraries never do. Returns what was done, for the report."""
    import importlib.util

    spec = importlib.util.find_spec("xent_cli")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return "xent_cli not found"
    where = next(iter(spec.submodule_search_locations))
    result = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", where], capture_output=True, text=True
    )
    return f"compiled {where}" if result.returncode == 0 else f"compileall failed in {where}"


def environment() -> dict[str, Any]:
    # Package metadata, not imports: this process must stay small, because a child's
    # ru_maxrss starts from its parent's RSS at fork time (Linux keeps it across exec).
    versions: dict[str, str] = {}
    for package in ("xent-cli", "numpy", "pyarrow", "pandas", "scipy", "polars", "duckdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    return {
        "git": git_state(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "xent": xent_command(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="a file name (cat10_1m.csv) or stem (cat10_1m: both formats); repeatable",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--skip-baselines", action="store_true", help="time xent only (no ratios)")
    parser.add_argument("--skip-startup", action="store_true", help="skip the start-up timings")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also save the results here")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    files = list(FILES)
    if args.only:
        unknown = set(args.only) - set(files) - {f.split(".")[0] for f in files}
        if unknown:
            parser.error(f"unknown --only {sorted(unknown)}; choose from {', '.join(files)}")
        files = [f for f in files if f in args.only or f.split(".")[0] in args.only]

    env = environment()
    env["bytecode"] = byte_compile()
    print(
        f"xent at {env['git']}; python {env['python']} on {env['platform']}, {env['cpus']} CPUs; "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    )
    results: dict[str, dict[str, Timing]] = {}
    warnings: list[str] = []
    for file in files:
        path = args.data_dir / file
        if not path.exists():
            message = f"{file}: missing, run benchmarks/generate.py --only {file} first"
            print(f"warning: {message}")
            warnings.append(message)
            continue
        print(f"{file} ({path.stat().st_size / 1e6:,.0f} MB)", flush=True)
        results[file] = bench_file(path, args.runs, args.skip_baselines)
        for name, timing in results[file].items():
            if timing.error:
                message = f"{file}: {name} failed: {timing.error}"
                print(f"warning: {message}")
                warnings.append(message)
        for message in check_agreement(file, results[file]):
            print(f"warning: {message}")
            warnings.append(message)

    startup_rows: list[dict[str, Any]] = []
    if not args.skip_startup:
        print("start-up ...", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            tiny = Path(tmp) / "tiny10.csv"
            write_tiny_csv(tiny)
            startup_rows = startup(tiny)
        for row in startup_rows:
            if row["error"]:
                message = f"start-up: {row['command']} failed: {row['error']}"
                print(f"warning: {message}")
                warnings.append(message)

    print()
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"Medians of {args.runs} run(s); peak RSS is the largest of the runs, in MiB "
        f"(a child's peak RSS counts from this runner's {floor:.0f} MB at fork)."
    )
    print()
    if results:
        print(results_table(results))
        print()
        print(
            "Ratios: medians of the per-round ratios (lowest-highest; a round runs every "
            "command once, back to back); floor: the faster read-only command."
        )
        print()
        print(ratio_table(results))
        print()
    if startup_rows:
        print(startup_table(startup_rows))
        print()
    if warnings:
        print(f"{len(warnings)} warning(s):")
        for message in warnings:
            print(f"- {message}")

    if args.json:
        payload = {
            "environment": env,
            "runs": args.runs,
            "files": {
                file: {
                    "target": asdict(FILES[file]),
                    "round_ratios": ratios(timings),
                    "median_ratios": {n: median_ratio(r) for n, r in ratios(timings).items()},
                    "floor": fastest_floor(timings),
                    "verdict": verdict(file, timings),
                    "commands": {
                        name: {
                            **asdict(t),
                            "median_s": t.median_s,
                            "max_peak_mb": t.max_peak_mb,
                        }
                        for name, t in timings.items()
                    },
                }
                for file, timings in results.items()
            },
            "startup": startup_rows,
            "runner_peak_mb": floor,
            "warnings": warnings,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
