"""Reference (g): duckdb's readers alone, no loss computed.

``python duckdb_read.py FILE`` loads a CSV (``read_csv``) or Parquet (``read_parquet``) file
into an in-memory duckdb table (``CREATE TABLE ... AS SELECT *``: every column parsed and
stored, multi-threaded) and prints its row count as JSON. Like ``pyarrow_read.py``, a floor:
what reading the file costs a duckdb-based evaluation before it computes anything.
"""

from __future__ import annotations

import json
import sys

import duckdb


def main(path: str) -> None:
    reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [path])
    (rows,) = con.execute("SELECT count(*) FROM t").fetchone() or (0,)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main(sys.argv[1])
