"""One record batch of a token file -> its scored rows, with the rows left out counted.

Per row ``l = -logprob`` (or the ``--nll`` value), in nats. Left out, in this order: masked
rows (``--mask`` false or 0, or null), ignored rows (``--ignore-label``), rows with a missing
document id (warning ``missing-document``), rows with a NaN or missing value or count
(``non-finite``). A log-probability of ``-inf`` (an NLL of ``+inf``) is a zero probability:
its loss is clipped to ``-log(eps)`` per token (warning ``zero-probability``). A positive
log-probability beyond rounding, a negative NLL, and a count of tokens below 1 are input
errors (exit 2). A token's probability ``exp(logprob)`` is :mod:`~xent_cli.kernels.exponential`'s
(the same bits on every machine).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core import diagnostics as dx
from xent_cli.core.labels import canonical
from xent_cli.core.token_state import SLICE_SEPARATOR, TokenRows, TokenState
from xent_cli.core.tokens import TokenPlan
from xent_cli.errors import XentError
from xent_cli.io.arrays import arrow_indices, floats, is_text, null_mask, numbers
from xent_cli.kernels.exponential import exp
from xent_cli.options import Per

#: A log-probability above 0 by at most this much is rounding (float32 logits), read as 0.
ROUNDING = 1e-5


def score_batch(
    plan: TokenPlan, batch: pa.RecordBatch, first_row: int, state: TokenState, source: str
) -> None:
    """Fold ``batch`` (rows ``first_row, first_row + 1, ...`` of the input) into ``state``."""
    n = batch.num_rows
    state.n_rows += n
    if n == 0:
        return
    every = _all_kept(n)
    keep = every  # (shared and read-only until a row is left out)
    if plan.mask_column is not None:
        mask = _floats(batch.column(plan.mask_column))
        other = ~np.isnan(mask) & (mask != 0) & (mask != 1)
        if other.any():  # a weight, not a mask: no number would say what it meant
            k = int(np.flatnonzero(other)[0])
            raise XentError(
                f"{source}: --mask column {plan.mask_column!r} holds {mask[k]:g} at row "
                f"{first_row + k}: a mask is 0 or 1 (false or true) per token",
                hint="weights per token are not applied to token files; pass a 0/1 mask",
            )
        masked = ~(np.nan_to_num(mask, nan=0.0) != 0)
        state.n_masked += int(masked.sum())
        keep = keep & ~masked
    if plan.settings.ignore_label is not None and plan.token_column is not None:
        wanted = canonical(plan.settings.ignore_label)
        tokens = batch.column(plan.token_column).to_pylist()
        ignored = np.array([canonical(t) == wanted for t in tokens], bool) & keep
        state.n_ignored += int(ignored.sum())
        keep = keep & ~ignored
    doc = None
    if plan.doc_column is not None:
        doc = batch.column(plan.doc_column)
        if pa.types.is_dictionary(doc.type):
            doc = doc.cast(doc.type.value_type)
        if doc.null_count or is_text(doc.type):
            nulls = null_mask(_array(doc))
            missing = np.zeros(n, bool) if nulls is None else nulls.copy()
            if is_text(doc.type):  # empty or blank text is no id either
                import pyarrow.compute as pc  # (its import costs 0.1 s: only when needed)

                missing |= _floats(pc.utf8_length(pc.utf8_trim_whitespace(doc))) == 0
            _warn(state, dx.MISSING_DOCUMENT, first_row, missing & keep)
            keep = keep & ~missing
    value = _floats(batch.column(plan.value_column))
    logprob = value if plan.kind == "logprob" else -value
    counts = {
        name: _counts(batch, column, name, first_row, source)
        for name, column in (
            ("tokens", plan.tokens_column),
            ("bytes", plan.bytes_column),
            ("words", plan.words_column),
        )
        if column is not None
    }
    # the common batch is clean: its extremes say so in two passes, and no mask is built
    low, high = float(logprob.min()), float(logprob.max())  # (NaN if any is NaN)
    finite = math.isfinite(low) and math.isfinite(high)
    if not finite or any(values.dtype.kind == "f" for values in counts.values()):
        bad = np.isnan(logprob) | (logprob == np.inf)
        for values in counts.values():
            if values.dtype.kind == "f":
                bad |= np.isnan(values)
        _warn(state, dx.NON_FINITE, first_row, bad & keep)
        keep = keep & ~bad
    if not high <= ROUNDING:
        _check_signs(plan, logprob, keep, first_row, source)
    tokens = counts.get("tokens")
    if tokens is not None:
        _check_tokens(plan, tokens, keep, first_row, source)
    zero = None
    if not finite:  # (-inf, or a NaN hiding one in the extremes)
        zero = (logprob == -np.inf) & keep
        _warn(state, dx.ZERO_PROBABILITY, first_row, zero)
    loss = np.negative(logprob) if high <= 0 else -np.minimum(logprob, 0.0)
    if zero is not None and zero.any():
        eps = plan.settings.eps
        clip = -math.log(eps) if eps > 0 else math.inf
        loss = np.where(zero, (1.0 if tokens is None else tokens) * clip, loss)
    everything = keep is every or bool(keep.all())
    index = _every_row(n) if everything else np.flatnonzero(keep)
    take = {
        name: (values if everything else values[index]).astype(np.int64, copy=False)
        for name, values in counts.items()
    }
    token_counts = take.get("tokens", _ones(len(index)))
    unit = {
        Per.token: token_counts,
        Per.byte: take.get("bytes"),
        Per.word: take.get("words"),
    }[plan.per]
    assert unit is not None
    p_true = top1 = top_p = None
    # one token a row, none clipped nor above 0: each p = exp(logprob) = exp(-loss) exactly
    p_true_of_loss = plan.tokens_known and plan.tokens_column is None and zero is None and high <= 0
    if not plan.tokens_known or p_true_of_loss:  # (lm-eval's rows: no token's probability)
        p_true = None
    elif plan.tokens_column is None:
        p_true = exp(logprob if zero is None else np.where(zero, -np.inf, logprob))
        p_true = p_true if everything else p_true[index]
    else:  # a row of one token: its probability; a longer span's is no token's
        kept = logprob if everything else logprob[index]
        p_true = exp(kept[token_counts == 1])  # (exp(-inf) = 0: a zero probability)
    if plan.topk_column is not None:
        value_type = batch.column(plan.value_column).type
        top1, top_p, has = _top(batch.column(plan.topk_column), logprob, value_type)
        top1, top_p = top1[index][has[index]], top_p[index][has[index]]
        if plan.convention is not None and state.calibration is not None and len(top1):
            from xent_cli.metrics.confidence import Confidences

            observed = top1.astype(np.float64)
            confident = Confidences(top_p, observed, (top_p - observed) ** 2)
            state.calibration.add(plan.convention, confident, None, None)
    if plan.slicer is not None and state.slices is not None and len(index):
        arrays = [_array(batch.column(c)) for c in plan.slicer.names]
        codes, keys = plan.slicer.local_codes(arrays, index)
        names = [SLICE_SEPARATOR.join(k) for k in keys]
        rows_one = np.ones(len(index), np.int64)
        state.slices.add(names, codes, loss[index], [rows_one, token_counts, unit])
    state.add(
        TokenRows(
            loss=loss if everything else loss[index],
            tokens=token_counts,
            n_bytes=take.get("bytes"),
            words=take.get("words"),
            unit=unit,
            doc=None if doc is None else _kept(doc, index, n),
            p_true=p_true,
            top1=top1,
            top_p=top_p,
            index=index,
            unit_is_one=plan.per is Per.token and plan.tokens_column is None,
            p_true_of_loss=p_true_of_loss,
        )
    )


def _all_kept(n: int) -> NDArray[np.bool_]:
    """``n`` times True, read-only and shared: most batches leave no row out."""
    return _shared("kept", n)


def _every_row(n: int) -> NDArray[np.intp]:
    """``0 .. n - 1``, read-only and shared: most batches keep every row."""
    return _shared("rows", n)


def _ones(n: int) -> NDArray[np.int64]:
    """``n`` ones (one token per row), read-only and shared."""
    return _shared("ones", n)


_SHARED: dict[str, NDArray[Any]] = {}
_MAKE: dict[str, Callable[[int], NDArray[Any]]] = {
    "kept": lambda n: np.ones(n, bool),
    "rows": lambda n: np.arange(n),
    "ones": lambda n: np.ones(n, np.int64),
}


def _shared(kind: str, n: int) -> NDArray[Any]:
    """The first ``n`` of a read-only array shared by every batch (and thread): batches of
    any size (a Parquet file's row groups differ by a few rows) cost no new array. It is
    replaced by a longer one when too short, never written."""
    have = _SHARED.get(kind)
    if have is None or len(have) < n:
        have = _MAKE[kind](max(n, 2 * len(have) if have is not None else n))
        have.flags.writeable = False
        _SHARED[kind] = have
    return have[:n]


def _kept(doc: pa.Array | pa.ChunkedArray, index: NDArray[np.intp], n: int) -> pa.Array:
    """The document ids of the kept rows (all of them: no copy)."""
    return _array(doc) if len(index) == n else _array(doc.take(arrow_indices(index)))


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _floats(column: pa.Array | pa.ChunkedArray) -> NDArray[np.float64]:
    """A numeric (or boolean) column as float64, nulls as NaN (no pandas involved)."""
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    return floats(_array(column), "", None)


def _counts(
    batch: pa.RecordBatch, column: str, name: str, first_row: int, source: str
) -> NDArray[np.float64] | NDArray[np.int64]:
    """A count column: integers as they are, else float64 (nulls NaN); negative or
    fractional counts are errors."""
    array = batch.column(column)
    values: NDArray[np.float64] | NDArray[np.int64]
    if pa.types.is_integer(array.type) and not array.null_count:
        values = numbers(_array(array), "", None)
        if int(values.min()) >= 0:
            return values
        wrong = values < 0
    else:
        values = _floats(array)
        finite = np.isfinite(values)
        wrong = finite & ((values < 0) | (values != np.floor(values)))
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        raise XentError(
            f"{source}: --{name} column {column!r} holds {values[k]:g} at row {first_row + k}: "
            f"a count of {name} is a whole number, 0 or more"
        )
    return values


def _check_signs(
    plan: TokenPlan, logprob: NDArray[np.float64], keep: NDArray[np.bool_], first_row: int,
    source: str,
) -> None:  # fmt: skip
    """A log-probability above 0 beyond rounding (an NLL below 0) is not one."""
    wrong = (logprob > ROUNDING) & keep
    if not wrong.any():
        return
    k = int(np.flatnonzero(wrong)[0])
    count = int(wrong.sum())
    if plan.kind == "logprob":
        raise XentError(
            f"{source}: column {plan.value_column!r} holds positive log-probabilities "
            f"({logprob[k]:g} at row {first_row + k}, {count} in this batch): log p is at most 0",
            hint=f"if the column holds negative log-likelihoods, pass --nll {plan.value_column}",
        )
    raise XentError(
        f"{source}: column {plan.value_column!r} holds negative NLL values "
        f"({-logprob[k]:g} at row {first_row + k}, {count} in this batch): an NLL is at least 0",
        hint=f"if the column holds log-probabilities, pass --logprob {plan.value_column}",
    )


def _check_tokens(
    plan: TokenPlan, tokens: NDArray[np.float64] | NDArray[np.int64], keep: NDArray[np.bool_],
    first_row: int, source: str,
) -> None:  # fmt: skip
    wrong = (tokens < 1) & keep
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        raise XentError(
            f"{source}: --tokens column {plan.tokens_column!r} holds {tokens[k]:g} at row "
            f"{first_row + k}: a row's log-probability sums at least one token"
        )


def _top(
    column: pa.Array | pa.ChunkedArray, logprob: NDArray[np.float64], value_type: pa.DataType
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.bool_]]:
    """Per row: the actual token's log-prob is the top one (ties count), exp(the top
    log-prob), and whether the row has a non-empty top-k list (lists may differ in length).
    Compared at the lower precision of the two columns: a float32 list holds the same
    log-prob as a float64 column only to float32's precision."""
    import pyarrow.compute as pc  # (not at import: a classifier's run never needs it)

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    top = np.full(len(column), -np.inf)
    lengths = _floats(pc.list_value_length(column))
    has = np.nan_to_num(lengths, nan=0.0) > 0
    if has.any():
        flat = pc.list_flatten(column)
        parents = _floats(pc.list_parent_indices(column)).astype(np.intp)
        values = _floats(flat)
        values = np.where(np.isnan(values), -np.inf, values)
        np.maximum.at(top, parents, values)
    own = np.where(np.isnan(logprob), -np.inf, logprob)
    narrow = [t for t in (column.type.value_type, value_type) if pa.types.is_floating(t)]
    if any(t.bit_width < 64 for t in narrow):  # float32 (or 16): compare as float32
        own = own.astype(np.float32).astype(np.float64)
        top = top.astype(np.float32).astype(np.float64)
    best = np.maximum(top, own)
    return own >= best, exp(best), has


def _warn(state: TokenState, code: str, first_row: int, which: NDArray[np.bool_]) -> None:
    if which.any():
        state.diagnostics.add(code, (first_row + np.flatnonzero(which)).tolist())
