"""Peer (f): the same evaluation as one duckdb SQL query.

``python duckdb_sql.py FILE`` lets duckdb read a CSV or Parquet file of predictions
(``read_csv``/``read_parquet``, multi-threaded) and computes each row's cross-entropy in SQL,
in DOUBLE (float32 Parquet columns are cast): ``greatest`` of the logits, the log of the sum of
the shifted exponentials, minus the true class's logit (``list_extract`` of the row's logits by
the label), or the softplus form of the sigmoid BCE for binary; per-class sums and counts by
``GROUP BY label``. Prints the mean loss and the per-class mean loss as one JSON object on
stdout. A 1000-class sum is an expression 1000 deep: ``max_expression_depth`` is raised.
"""

from __future__ import annotations

import json
import sys

import duckdb


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def main(path: str) -> None:
    con = duckdb.connect()
    con.execute("SET max_expression_depth TO 100000")
    reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
    source = f"{reader}('{path.replace(chr(39), chr(39) * 2)}')"
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    names = [quoted(n) for n in columns if n.startswith("logit")]
    if names == ['"logit"']:
        z = '"logit"::DOUBLE'
        loss = f"greatest({z}, 0) - {z} * label + ln(1 + exp(-abs({z})))"
        inner = f"SELECT label, {loss} AS loss FROM {source}"
    else:
        doubles = ", ".join(f"{n}::DOUBLE AS {n}" for n in names)
        shifted = " + ".join(f"exp({n} - top)" for n in names)
        listed = ", ".join(names)
        inner = (
            f"SELECT label, top + ln({shifted}) - list_extract([{listed}], label + 1) AS loss "
            f"FROM (SELECT *, greatest({listed}) AS top FROM "
            f"(SELECT label, {doubles} FROM {source}))"
        )
    rows = con.execute(
        f"SELECT label, sum(loss), count(*) FROM ({inner}) GROUP BY label ORDER BY label"
    ).fetchall()
    total = sum(r[1] for r in rows) / sum(r[2] for r in rows)
    result = {"loss": total, "per_class": {str(r[0]): r[1] / r[2] for r in rows}}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
