"""``xent rows``' output: blocks of per-row records as JSON Lines, CSV or a table."""

from __future__ import annotations

import json
from collections.abc import Sequence

from xent_cli.core.rows import RowRecord
from xent_cli.jsonvalues import json_number
from xent_cli.options import RowsFormat
from xent_cli.render.report import csv_text, printable

ROW_FIELDS = ("row", "id", "label", "predicted", "p_true", "loss")


def format_records(records: list[RowRecord], fmt: RowsFormat, *, header: bool) -> str:
    """Text for a block of records (the header only on the first block)."""
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
    lines = []
    if header:
        lines.append(
            f"{'row':>8}  {'id':<16}  {'label':<14}  {'predicted':<14}  "
            f"{'p_true':>10}  {'loss':>10}"
        )
    for r in records:
        lines.append(
            f"{r.row:>8}  {printable(r.id or '-')[:16]:<16}  {printable(r.label)[:14]:<14}  "
            f"{printable(r.predicted)[:14]:<14}  "
            f"{r.p_true:>10.4g}  {r.loss:>10.4g}"
        )
    return "\n".join(lines) + ("\n" if lines else "")
