"""``xent rows``' output: blocks of per-row records as JSON Lines, CSV or a table."""

from __future__ import annotations

import json
from collections.abc import Sequence

from xent_cli.core.rows import RowRecord
from xent_cli.jsonvalues import json_number
from xent_cli.options import RowsFormat
from xent_cli.render.report import csv_text
from xent_cli.render.table import BARE, Column, printable, table_lines

ROW_FIELDS = ("row", "id", "label", "predicted", "p_true", "loss")
# The table's columns have fixed widths, so that the blocks of a stream line up. A narrow
# width drops predicted first, then p_true, id and label (row and loss stay).
ROW_COLUMNS = (
    Column("row", width=8),
    Column("id", rank=2, align="left", shorten=True, width=16),
    Column("label", rank=1, align="left", shorten=True, width=14),
    Column("predicted", rank=4, align="left", shorten=True, width=14),
    Column("p_true", rank=3, width=10),
    Column("loss", width=10),
)


def format_records(
    records: list[RowRecord], fmt: RowsFormat, *, header: bool, width: int | None = None
) -> str:
    """Text for a block of records (the header only on the first block); a table fitted to
    ``width`` (None: its full width)."""
    if fmt is RowsFormat.json:
        return "".join(
            json.dumps(
                {
                    "row": r.row,
                    "id": r.id,
                    "label": r.label,
                    "predicted": r.predicted,
                    "p_true": json_number(r.p_true),
                    "loss": json_number(r.loss),
                },
                allow_nan=False,
            )
            + "\n"
            for r in records
        )
    if fmt is RowsFormat.csv:
        csv_rows: list[Sequence[object]] = [ROW_FIELDS] if header else []
        csv_rows.extend(
            (
                r.row,
                "" if r.id is None else r.id,
                r.label,
                r.predicted,
                repr(r.p_true),
                repr(r.loss),
            )
            for r in records
        )
        return csv_text(csv_rows)
    cells = [
        [
            str(r.row),
            printable(r.id or "-"),
            printable(r.label),
            printable(r.predicted),
            f"{r.p_true:.4g}",
            f"{r.loss:.4g}",
        ]
        for r in records
    ]
    lines = table_lines(ROW_COLUMNS, cells, width=width, look=BARE, headings=header)
    return "\n".join(lines) + ("\n" if lines else "")
