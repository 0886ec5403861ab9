"""The Python API's evaluation, and the one place that chooses where it runs: in this
process (a :class:`~xent_cli.core.engine.Scan`) or on a Dask cluster
(:mod:`xent_cli.core.cluster`). The CLI's ``xent eval`` calls :func:`evaluate` too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xent_cli.core.token_engine import TokenScan
from xent_cli.core.tokens import is_token_layout
from xent_cli.io.base import BatchSource
from xent_cli.io.sources import make_sources
from xent_cli.options import Settings, make_settings

if TYPE_CHECKING:  # (a token file's run never loads the classifier's modules, nor they its)
    from xent_cli.core.engine import Scan
    from xent_cli.core.partials import Partial
    from xent_cli.core.report import Report
    from xent_cli.core.state import EvalState
    from xent_cli.core.token_partials import TokenPartial
    from xent_cli.core.token_report import TokenReport
    from xent_cli.core.token_state import TokenState

__all__ = ["Run", "TokenRun", "TokenScan", "evaluate", "make_settings", "make_sources", "run_scan"]

ProgressCallback = Callable[[int, "int | None"], None]


def evaluate(
    source: Any,
    *,
    on_progress: ProgressCallback | None = None,
    dask: Any = None,
    min_slice_size: int | None = None,
    **options: Any,
) -> Report | TokenReport:
    """Evaluate predictions in ``source`` (path(s), a pandas/polars DataFrame, an Arrow
    table or stream: see :func:`make_sources`) and return the report.

    ``options`` are the CLI's options by their Python names: ``label``, ``scores``,
    ``targets``, ``weight``, ``id``, ``positive``, ``mode``, ``kind``, ``eps``, ``base``,
    ``renormalize``, ``input_format``, ``top_warnings``. ``on_progress(done, total)`` is
    called after each batch with bytes read so far. ``dask``: a ``distributed.Client``, a
    scheduler address or ``"local[:N]"`` to evaluate the files' parts on a Dask cluster
    (the same report). ``by="col,col:N"``: per-slice figures in ``report.slices`` (smaller
    slices than ``min_slice_size``, 20, are marked small).

    A token file (a language model's log-probability of each actual token: no label column,
    a ``logprob`` or ``nll`` column, or ``logprob=``/``nll=``/``tokens=`` given) gives a
    :class:`~xent_cli.core.token_report.TokenReport`: perplexity, bits per token and byte,
    and an interval by documents (``doc=``, ``per=``, ``mask=``, ``topk=``, ``confidence=``).
    """
    settings = make_settings(**options)
    run = run_scan(source, settings, on_progress=on_progress, dask=dask)
    return run.report(min_slice_size=min_slice_size)


@dataclass(frozen=True)
class Run:
    """One evaluation's scan (plan, files) and the state of all its rows."""

    scan: Scan
    state: EvalState

    def report(self, *, min_slice_size: int | None = None) -> Report:
        from xent_cli.core.report import build_report

        scan = self.scan
        return build_report(
            scan.plan, self.state, scan.files, scan.input_names(), min_slice_size=min_slice_size
        )

    def partial(self) -> Partial:
        """The state as ``--save-state`` writes it (for ``xent merge``)."""
        from xent_cli.core.partials import Partial

        return Partial(self.scan.plan, self.state, self.scan.files)


@dataclass(frozen=True)
class TokenRun:
    """One evaluation of token files: the scan (plan, files) and the state of its rows."""

    scan: TokenScan
    state: TokenState

    def report(self, *, min_slice_size: int | None = None) -> TokenReport:
        from xent_cli.core.token_report import build_token_report

        scan = self.scan
        return build_token_report(
            scan.plan, self.state, scan.files, scan.input_names(), min_slice_size=min_slice_size
        )

    def partial(self) -> TokenPartial:
        """The state as ``--save-state`` writes it (for ``xent merge``)."""
        from xent_cli.core.token_partials import TokenPartial

        return TokenPartial(self.scan.plan, self.state, self.scan.files)


def run_scan(
    source: Any,
    settings: Settings,
    *,
    on_progress: ProgressCallback | None = None,
    dask: Any = None,
) -> Run | TokenRun:
    """Evaluate ``source`` under frozen ``settings``: here, or on a Dask cluster when ``dask``
    is a ``distributed.Client``, a scheduler address or ``"local[:N]"``. Token files (see
    :func:`~xent_cli.core.tokens.is_token_layout`) take the token pass."""
    sources = make_sources(source, settings.input_format)
    if sources and is_token_layout(sources[0].schema, settings):
        return _run_tokens(sources, settings, on_progress, dask)
    if dask is None:
        from xent_cli.core.engine import Scan

        scan = Scan(sources, settings, on_progress)
        return Run(scan, scan.state())
    from xent_cli.core.cluster import connect, evaluate_on

    if isinstance(dask, str):
        with connect(dask) as client:
            return Run(*evaluate_on(client, sources, settings, on_progress))
    return Run(*evaluate_on(dask, sources, settings, on_progress))


def _run_tokens(
    sources: list[BatchSource],
    settings: Settings,
    on_progress: ProgressCallback | None,
    dask: Any,
) -> TokenRun:
    if dask is None:
        scan = TokenScan(sources, settings, on_progress)
        return TokenRun(scan, scan.state())
    from xent_cli.core.cluster import connect, evaluate_tokens_on

    if isinstance(dask, str):
        with connect(dask) as client:
            return TokenRun(*evaluate_tokens_on(client, sources, settings, on_progress))
    return TokenRun(*evaluate_tokens_on(dask, sources, settings, on_progress))
