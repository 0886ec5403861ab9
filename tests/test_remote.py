"""Remote inputs against a real S3 server on loopback (moto's ThreadedMotoServer): objects,
compressed text, Parquet, prefixes of shards, globs, a missing key and a denied bucket. Each
remote read gives the report of the same files read locally."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from .conftest import SAMPLES, invoke

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")
requests = pytest.importorskip("requests")

READER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": ["arn:aws:s3:::preds", "arn:aws:s3:::preds/*"],
        }
    ],
}


@pytest.fixture(scope="module")
def local_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files that go to the bucket, also kept locally for the expected reports."""
    root = tmp_path_factory.mktemp("objects")
    files = {"digits.csv": root / "digits.csv"}
    shutil.copy(SAMPLES / "digits_logits.csv", files["digits.csv"])
    files["digits.csv.gz"] = root / "digits.csv.gz"
    files["digits.csv.gz"].write_bytes(gzip.compress(files["digits.csv"].read_bytes()))
    table = pacsv.read_csv(files["digits.csv"])
    files["digits.parquet"] = root / "digits.parquet"
    pq.write_table(table, files["digits.parquet"], row_group_size=100)
    sources = pa.array([("a", "007", "7")[i % 3] for i in range(table.num_rows)])
    files["sliced.parquet"] = root / "sliced.parquet"  # a text column for --by
    pq.write_table(table.append_column("src", sources), files["sliced.parquet"], row_group_size=100)
    for i in range(3):  # Spark-style output: shards, a _SUCCESS marker and a .crc file
        files[f"run=2026-12-01/part-{i}.parquet"] = root / f"part-{i}.parquet"
        pq.write_table(table.slice(i * 180, 180), files[f"run=2026-12-01/part-{i}.parquet"])
    return files


@pytest.fixture(scope="module")
def s3(local_files: dict[str, Path]) -> Any:
    """A moto S3 server with bucket 'preds' (readable) and 'secret' (not), and the
    credentials of a user who may only read 'preds'."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    admin = {
        "endpoint_url": url,
        "aws_access_key_id": "admin",
        "aws_secret_access_key": "admin",
        "region_name": "us-east-1",
    }
    client = boto3.client("s3", **admin)
    for bucket in ("preds", "secret"):
        client.create_bucket(Bucket=bucket)
    for key, path in local_files.items():
        client.put_object(Bucket="preds", Key=key, Body=path.read_bytes())
    client.put_object(Bucket="preds", Key="run=2026-12-01/_SUCCESS", Body=b"")
    client.put_object(Bucket="preds", Key="run=2026-12-01/.part-0.parquet.crc", Body=b"x")
    client.put_object(
        Bucket="secret", Key="digits.csv", Body=local_files["digits.csv"].read_bytes()
    )
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader", PolicyName="read-preds", PolicyDocument=json.dumps(READER_POLICY)
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=10)  # enforce IAM from now
    yield {"url": url, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    server.stop()


@pytest.fixture
def aws(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The environment a user would set: endpoint and the reader's credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3["url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["secret"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3


def _report(*args: Any) -> dict[str, Any]:
    result = invoke("eval", *args, "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    report["files"] = [Path(f.split("?")[0]).name for f in report["files"]]
    return report


@pytest.mark.parametrize("key", ["digits.csv", "digits.csv.gz", "digits.parquet"])
def test_an_object_gives_the_local_report(aws, local_files, key):
    assert _report(f"s3://preds/{key}") == _report(local_files[key])


def test_slices_of_an_object_are_those_of_the_local_file(aws, local_files):
    """--by over S3: the text column is read as the file's own dictionaries (the object is
    opened a second time for that), giving the local file's slices."""
    remote = _report("s3://preds/sliced.parquet", "--by", "src")
    assert remote == _report(local_files["sliced.parquet"], "--by", "src")
    assert sorted(g["key"]["src"] for g in remote["slices"]["groups"]) == ["007", "7", "a"]


def test_a_prefix_of_shards_reads_every_shard_in_order(aws, local_files):
    local = [local_files[f"run=2026-12-01/part-{i}.parquet"] for i in range(3)]
    remote = invoke("eval", "s3://preds/run=2026-12-01/", "-f", "json")
    assert remote.exit_code == 0, remote.output
    data = json.loads(remote.stdout)
    assert data["files"] == [f"s3://preds/run=2026-12-01/part-{i}.parquet" for i in range(3)]
    assert _report("s3://preds/run=2026-12-01/") == _report(*local)
    assert data["n_rows"] == 540


def test_a_quoted_glob(aws, local_files):
    result = invoke("eval", "s3://preds/run=*/part-[01].parquet", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_rows"] == 360


def test_the_server_enforces_iam_as_s3_does(s3):
    """The reader may head, get and list 'preds' and nothing of 'secret'. When a moto release
    breaks this (5.2.6 denied HeadObject and ListObjectsV2), this test names the server, not
    xent: exclude the release in pyproject.toml and refresh the lock (README, Development)."""
    from botocore.exceptions import ClientError

    reader = boto3.client(
        "s3",
        endpoint_url=s3["url"],
        aws_access_key_id=s3["key"],
        aws_secret_access_key=s3["secret"],
        region_name="us-east-1",
    )
    assert reader.head_object(Bucket="preds", Key="digits.csv")["ContentLength"] > 0
    assert reader.get_object(Bucket="preds", Key="digits.csv")["Body"].read()
    assert "Contents" in reader.list_objects_v2(Bucket="preds", Prefix="run=")
    for call in (
        lambda: reader.get_object(Bucket="secret", Key="digits.csv"),
        lambda: reader.head_object(Bucket="secret", Key="digits.csv"),
        lambda: reader.list_objects_v2(Bucket="secret"),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] in ("AccessDenied", "403")


def test_a_missing_key_is_one_line(aws):
    result = invoke("eval", "s3://preds/nope.csv")
    assert result.exit_code == 2
    assert result.stderr.strip() == "xent: error: s3://preds/nope.csv: no such object"


def test_a_denied_bucket_says_check_credentials(aws):
    result = invoke("eval", "s3://secret/digits.csv")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "xent: error: s3://secret/digits.csv: access denied (check AWS credentials)"
    )


def test_wrong_credentials_say_check_credentials(aws, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    result = invoke("eval", "s3://preds/digits.csv")
    assert result.exit_code == 2
    assert "access denied (check AWS credentials)" in result.stderr


def test_dask_workers_read_the_bucket(aws, local_files):
    distributed = pytest.importorskip("distributed")
    import xent_cli

    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, dashboard_address=":0", silence_logs=50
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = xent_cli.evaluate("s3://preds/digits.parquet", dask=client).to_dict()
    local = xent_cli.evaluate(local_files["digits.parquet"]).to_dict()
    remote.pop("files")
    local.pop("files")
    assert remote == local


class _Files:
    """A loopback HTTP server over a folder, answering Range requests as object stores do
    (or not, with ``ranges=False``, as Python's own http.server)."""

    def __init__(self, root: Path, ranges: bool) -> None:
        import http.server
        import threading

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                path = Path(self.translate_path(self.path))
                if not (ranges and wanted and path.is_file()):
                    return super().do_GET()
                data = path.read_bytes()
                first, _, last = wanted.removeprefix("bytes=").partition("-")
                start = int(first) if first else len(data) - int(last)
                end = min(int(last), len(data) - 1) if first and last else len(data) - 1
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(data[start : end + 1])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=[True, False], ids=["ranges", "no-ranges"])
def http_root(request: pytest.FixtureRequest, local_files: dict[str, Path]) -> Any:
    pytest.importorskip("aiohttp")
    files = _Files(local_files["digits.csv"].parent, ranges=request.param)
    yield files.url, request.param
    files.close()


def test_http_csv_through_fsspec(http_root, local_files):
    url, _ = http_root
    assert _report(f"{url}/digits.csv") == _report(local_files["digits.csv"])


def test_http_parquet_by_range_requests(http_root, local_files):
    url, ranges = http_root
    if ranges:
        assert _report(f"{url}/digits.parquet") == _report(local_files["digits.parquet"])
    else:
        result = invoke("eval", f"{url}/digits.parquet")
        assert result.exit_code == 2
        assert "does not answer range requests" in result.stderr
        assert "curl -o" in result.stderr


def test_http_missing(http_root):
    url, _ = http_root
    result = invoke("eval", f"{url}/nope.csv")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("nope.csv: no such object")
