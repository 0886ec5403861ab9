"""Reference (d): pyarrow's readers alone, no loss computed.

``python pyarrow_read.py FILE`` reads a CSV (``pyarrow.csv.read_csv``, threaded, default
options) or Parquet (``pyarrow.parquet.ParquetFile(FILE).read()``, threaded; not ``read_table``,
whose dataset layer adds ~0.2 s of imports) file into a table and prints its row count as
JSON. Whatever evaluates a file through pyarrow pays at least this (the imports plus the
parse), so its time is the floor under ``xent eval``'s on the same file: the runner shows the
two side by side to tell the cost of xent's own work from the parser's.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read()
    else:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
    print(json.dumps({"rows": table.num_rows}))


if __name__ == "__main__":
    main(sys.argv[1])
