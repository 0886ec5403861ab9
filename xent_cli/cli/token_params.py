"""The options of language-model token files (``xent eval``'s "Language models" panel) and
``--ignore-label``, as ``Annotated`` aliases (see :mod:`xent_cli.cli.params`)."""

from __future__ import annotations

from typing import Annotated

import typer

from xent_cli.cli.panels import INPUT, TOKENS
from xent_cli.options import Per

IgnoreLabelOpt = Annotated[
    str | None,
    typer.Option(
        "--ignore-label",
        metavar="VALUE",
        help="Rows whose label (multilabel: cells; token files: the token) is VALUE are not "
        "scored, e.g. -100.",
        rich_help_panel=INPUT,
    ),
]
LogprobOpt = Annotated[
    str | None,
    typer.Option(
        "--logprob",
        metavar="COL",
        help="Token files: log p of the actual token (natural log).",
        rich_help_panel=TOKENS,
    ),
]
NllOpt = Annotated[
    str | None,
    typer.Option(
        "--nll", metavar="COL", help="Token files: its negative log-likelihood.",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
TokensOpt = Annotated[
    str | None,
    typer.Option(
        "--tokens", metavar="COL", help="Tokens a row's log-probability sums [default: 1].",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
DocOpt = Annotated[
    str | None,
    typer.Option(
        "--doc", metavar="COL", help="The document a row belongs to (the interval's clusters).",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
BytesOpt = Annotated[
    str | None,
    typer.Option(
        "--bytes", metavar="COL", help="UTF-8 bytes the row's tokens cover.",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
WordsOpt = Annotated[
    str | None,
    typer.Option(
        "--words", metavar="COL", help="Words the row's tokens cover.", rich_help_panel=TOKENS
    ),
]
PerOpt = Annotated[
    Per,
    typer.Option(
        "--per",
        help="The unit the loss is normalised by [default: token, else byte, else word].",
        show_default=False,
        rich_help_panel=TOKENS,
    ),
]
MaskOpt = Annotated[
    str | None,
    typer.Option(
        "--mask", metavar="COL", help="Rows whose value is false/0 are not scored.",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
TopkOpt = Annotated[
    str | None,
    typer.Option(
        "--topk", metavar="COL", help="A list of the model's top-k log-probs (top-1 accuracy).",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
TopDocsOpt = Annotated[
    int,
    typer.Option(
        "--top-docs", min=0, metavar="N", help="Documents listed, worst first.",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
LevelOpt = Annotated[
    float,
    typer.Option(
        "--confidence", help="Token files: the level of the interval on the loss.",
        rich_help_panel=TOKENS,
    ),
]  # fmt: skip
