"""Beyond one process: 8 Parquet shards of the 1M x 10 file, evaluated four ways.

    python benchmarks/distributed.py [--runs 3] [--shards 8]

1. one process over all shards (``xent eval shards/``);
2. ``--dask local:2`` (a LocalCluster of two worker processes, started in the run);
3. ``--save-state`` per shard (one process each, one after another) + ``xent merge``;
4. the same shards from a real S3 server on loopback (moto) vs from the local disk.

Prints median wall seconds per way and checks that every way printed the same JSON report
(apart from the file names). Needs ``pip install -e '.[test]'`` (moto, dask) and
``python benchmarks/generate.py --only cat10_1m``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "xent_cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return time.perf_counter() - start, result.stdout


def numbers(text: str) -> str:
    report = json.loads(text)
    report.pop("files", None)
    return json.dumps(report, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shards", type=int, default=8)
    options = parser.parse_args()

    import pyarrow.parquet as pq

    source = DATA / "cat10_1m.parquet"
    if not source.exists():
        sys.exit(f"{source} is missing: run python benchmarks/generate.py --only cat10_1m")
    table = pq.read_table(source)
    work = Path(tempfile.mkdtemp(prefix="xent-dist-"))
    shards = work / "shards"
    shards.mkdir()
    for i in range(options.shards):  # the same rows in each shard: 1M rows x shards
        pq.write_table(table, shards / f"part-{i:02d}.parquet", row_group_size=250_000)
    files = sorted(str(p) for p in shards.iterdir())

    times: dict[str, list[float]] = {}
    outputs: dict[str, str] = {}

    def record(name: str, seconds: float, text: str) -> None:
        times.setdefault(name, []).append(seconds)
        outputs[name] = numbers(text)

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    s3.create_bucket(Bucket="bench")
    for path in files:
        s3.upload_file(path, "bench", f"shards/{Path(path).name}")

    for _ in range(options.runs):
        record("one process", *run(["eval", str(shards), "-f", "json"]))
        record("--dask local:2", *run(["eval", str(shards), "--dask", "local:2", "-f", "json"]))
        start = time.perf_counter()
        states = []
        for path in files:
            state = f"{path}.state.json"
            run(["eval", path, "--save-state", state, "-f", "json"])
            states.append(state)
        merged_time, merged = run(["merge", *states, "-f", "json"])
        record("save-state x8 + merge", time.perf_counter() - start, merged)
        times.setdefault("merge alone", []).append(merged_time)
        record("s3 (moto on loopback)", *run(["eval", "s3://bench/shards/", "-f", "json"], aws))
    server.stop()

    print(f"{options.shards} shards x 1M rows x 10 classes, medians of {options.runs} runs")
    base = statistics.median(times["one process"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<24} {median:8.2f} s   {median / base:5.2f}x one process")
    same = len(set(outputs.values())) == 1
    print("  every way printed the same report:", "yes" if same else "NO")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
