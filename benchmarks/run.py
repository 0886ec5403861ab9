"""Time ``xent eval`` against the scripts users hand-write, on the files of ``generate.py``.

For every data file four whole-process commands are timed, alternating (a, b, c, d, a, b,
...) so that drift in machine load hits all three alike, ``--runs`` times each:

a. ``xent eval FILE --format json``;
b. ``baselines/pandas_scipy.py FILE`` -- pandas ``read_csv``/``read_parquet``,
   ``scipy.special.log_softmax`` (or a ``numpy.logaddexp`` BCE for binary), ``groupby`` mean;
c. ``baselines/pyarrow_numpy.py FILE`` -- ``pyarrow.csv.read_csv``/``parquet.read_table``,
   a hand-rolled logsumexp and ``numpy.bincount``;
d. ``baselines/pyarrow_read.py FILE`` -- the same pyarrow read alone, no loss: the floor under
   anything that parses the file with pyarrow (imports plus a threaded parse).

Wall time is ``time.perf_counter`` around spawning and reaping the child; peak RSS is the
child's own ``ru_maxrss`` from ``os.wait4`` (KiB on Linux, reported in MiB as "MB"). Each file
is read once before timing so that every run sees it in the page cache. The three commands that
compute a loss must agree on the overall and per-class losses to 1e-6 relative, or a warning is
printed.

Then start-up: ``xent --version``, ``xent --help`` (target < 0.15 s) and ``xent eval`` on a
10-row CSV against ``python -c "import numpy, pyarrow.csv"`` (target within 1.5x), as medians
of 10 runs.

Usage::

    python benchmarks/run.py                          # all files, 5 runs each
    python benchmarks/run.py --only cat10_1m.csv --runs 5
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
READ_ONLY = "pyarrow read only"  # the reference command that computes no loss
REL_TOL = 1e-6
STARTUP_RUNS = 10
STARTUP_ABS_TARGET = 0.15  # seconds, for --version and --help
STARTUP_REL_TARGET = 1.5  # xent eval on 10 rows vs importing numpy + pyarrow.csv


@dataclass(frozen=True)
class Target:
    """The speed (and optionally memory) goal for xent on one file."""

    ratio: float  # xent time / pandas+scipy time must be <= this
    peak_mb: float | None = None  # xent peak RSS must be <= this

    def describe(self) -> str:
        text = f"<={self.ratio:g}x"
        if self.peak_mb is not None:
            text += f", <={self.peak_mb:g} MB"
        return text


FILES: dict[str, Target] = {
    "cat10_1m.csv": Target(0.5),
    "cat10_1m.parquet": Target(0.6),
    "bin_10m.csv": Target(0.5),
    "cat1000_100k.csv": Target(0.4, peak_mb=600),
    "cat1000_100k.parquet": Target(0.6),
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
    if name == READ_ONLY:
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
        commands["pandas+scipy"] = [sys.executable, str(BASELINES / "pandas_scipy.py"), str(path)]
        commands["pyarrow+numpy"] = [
            sys.executable,
            str(BASELINES / "pyarrow_numpy.py"),
            str(path),
        ]
        commands[READ_ONLY] = [sys.executable, str(BASELINES / "pyarrow_read.py"), str(path)]
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
            if timing.loss is not None and timing.loss != loss:
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


def verdict(file: str, timings: dict[str, Timing]) -> tuple[float | None, str]:
    """xent / pandas+scipy time ratio and whether the file's target is met."""
    target = FILES[file]
    xent = timings["xent"]
    base = timings.get("pandas+scipy")
    if xent.error:
        return None, f"{target.describe()}: missed (xent failed)"
    ratio = None
    if base is not None and base.median_s and xent.median_s is not None:
        ratio = xent.median_s / base.median_s
    misses: list[str] = []
    if ratio is None:
        misses.append("no baseline")
    elif ratio > target.ratio:
        misses.append("time")
    peak = xent.max_peak_mb
    if target.peak_mb is not None and peak is not None and peak > target.peak_mb:
        misses.append("memory")
    if misses == ["no baseline"]:
        state = "n/a"
        if target.peak_mb is not None and peak is not None:
            state = "memory met, time n/a"
    elif misses:
        state = "missed (" + ", ".join(m for m in misses if m != "no baseline") + ")"
    else:
        state = "met"
    return ratio, f"{target.describe()}: {state}"


def round_ratios(timings: dict[str, Timing]) -> list[float]:
    """xent / pandas+scipy within each round (the two ran back to back): how much the ratio
    moves with the machine's load from one round to the next."""
    xent, base = timings["xent"], timings.get("pandas+scipy")
    if base is None or xent.error or base.error or len(xent.seconds) != len(base.seconds):
        return []
    return [x / b for x, b in zip(xent.seconds, base.seconds, strict=True)]


def fmt_spread(ratios: list[float]) -> str:
    if not ratios:
        return "n/a"
    return f"{min(ratios):.2f}-{max(ratios):.2f}x"


def floor_ratio(timings: dict[str, Timing]) -> float | None:
    """pyarrow's read alone / pandas+scipy: the ratio no pyarrow-based reader can beat."""
    read, base = timings.get(READ_ONLY), timings.get("pandas+scipy")
    if read is None or base is None or read.median_s is None or not base.median_s:
        return None
    return read.median_s / base.median_s


def fmt_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.3f}x"


def results_table(results: dict[str, dict[str, Timing]]) -> str:
    lines = [
        "| file | pandas+scipy s (peak MB) | pyarrow+numpy s (peak MB) "
        "| pyarrow read only s (peak MB) | xent s (peak MB) | xent / pandas+scipy | per round "
        "| read only / pandas+scipy | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for file, timings in results.items():
        ratio, target = verdict(file, timings)
        lines.append(
            f"| {file} | {fmt_cell(timings.get('pandas+scipy'))} "
            f"| {fmt_cell(timings.get('pyarrow+numpy'))} | {fmt_cell(timings.get(READ_ONLY))} "
            f"| {fmt_cell(timings['xent'])} | {fmt_ratio(ratio)} "
            f"| {fmt_spread(round_ratios(timings))} | {fmt_ratio(floor_ratio(timings))} "
            f"| {target} |"
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
        if name in ("xent --version", "xent --help"):
            target = f"< {STARTUP_ABS_TARGET:g} s"
            state = "n/a" if median is None else "met" if median < STARTUP_ABS_TARGET else "missed"
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


def environment() -> dict[str, Any]:
    # Package metadata, not imports: this process must stay small, because a child's
    # ru_maxrss starts from its parent's RSS at fork time (Linux keeps it across exec).
    versions: dict[str, str] = {}
    for package in ("xent-cli", "numpy", "pyarrow", "pandas", "scipy"):
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
        f"(a child's peak RSS counts from this runner's {floor:.0f} MB at fork). 'per round': "
        "the lowest and highest ratio of two runs made back to back."
    )
    print()
    if results:
        print(results_table(results))
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
                    "ratio": verdict(file, timings)[0],
                    "round_ratios": round_ratios(timings),
                    "read_only_ratio": floor_ratio(timings),
                    "verdict": verdict(file, timings)[1],
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
