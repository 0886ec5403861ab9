"""Arrow arrays -> numpy without pandas.

pyarrow imports pandas (a third of a second) as soon as it converts a Python or numpy value
(``fill_null(0)``, ``take(ndarray)``, ``to_numpy()``), so the hot path reads Arrow buffers
directly: values as a numpy view, nulls from the validity bitmap.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.errors import XentError

MAX_DIGITS = 18  # decimal digits that always fit in an int64

NATIVE_NUMBERS: dict[pa.DataType, type[np.generic]] = {
    pa.float64(): np.float64,
    pa.float32(): np.float32,
    pa.float16(): np.float16,
    pa.int64(): np.int64,
    pa.int32(): np.int32,
    pa.int16(): np.int16,
    pa.int8(): np.int8,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
}


def is_text(kind: pa.DataType) -> bool:
    """A string or large-string type (not dictionary-encoded, not a view)."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def numpy_view(array: pa.Array, dtype: type[np.generic]) -> NDArray[Any]:
    """The value buffer of a primitive array as a read-only numpy view (null slots: any value)."""
    width = np.dtype(dtype).itemsize
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * width
    )


def null_mask(array: pa.Array) -> NDArray[np.bool_] | None:
    """True where the array is null; None when it has no nulls (read from the bitmap)."""
    if array.null_count == 0:
        return None
    bits = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)]
    return cast("NDArray[np.bool_] | None", valid == 0)


def digit_strings(array: pa.Array) -> NDArray[np.int64] | None:
    """A binary column whose every value is 1 to ``MAX_DIGITS`` ASCII digits, as int64; None if
    any value is anything else (empty, null, signed, padded, longer).

    Text labels such as ``0``/``1`` decode here in a few numpy passes, a third of what Arrow's
    integer conversion costs while parsing them: value = sum_k digit_k * 10^k, from the right.
    """
    if array.type != pa.binary() or array.null_count or not len(array):
        return None
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4
    )
    lengths = np.diff(offsets)
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1 or longest > MAX_DIGITS:
        return None
    start = int(offsets[0])
    text = np.frombuffer(
        array.buffers()[2], dtype=np.uint8, count=int(offsets[-1]) - start, offset=start
    )
    digits = text - np.uint8(ord("0"))  # non-digits wrap around to values above 9
    if int(digits.max()) > 9:
        return None
    if longest == 1:
        return cast("NDArray[np.int64] | None", digits.astype(np.int64))
    ends = offsets[1:] - start  # one past each value's last digit
    value = digits[ends - 1].astype(np.int64)
    for k in range(1, longest):
        place = digits[np.maximum(ends - 1 - k, 0)].astype(np.int64) * 10**k
        value += place if k < shortest else np.where(lengths > k, place, 0)
    return cast("NDArray[np.int64] | None", value)


def integers(array: pa.Array, missing: int) -> NDArray[np.int64]:
    """An integer array as int64, with ``missing`` in the null slots."""
    native = NATIVE_NUMBERS.get(array.type)
    if native is None or not np.issubdtype(native, np.integer):
        array = array.cast(pa.int64())
        native = np.int64
    assert native is not None
    values = numpy_view(array, native).astype(np.int64, copy=False)  # read-only when a view
    nulls = null_mask(array)
    return values if nulls is None else np.where(nulls, missing, values)


def floats(array: pa.Array | pa.ChunkedArray, source: str, column: str | None) -> NDArray[Any]:
    """A numeric column as float64, nulls as NaN (read-only when it is a view)."""
    return numbers(array, source, column).astype(np.float64, copy=False)


def numbers(array: pa.Array | pa.ChunkedArray, source: str, column: str | None) -> NDArray[Any]:
    """A numeric column as numpy numbers in their own dtype (a view when possible), nulls NaN.

    Integer columns with nulls come back as float64; other types are cast to float64 by Arrow.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    native = NATIVE_NUMBERS.get(array.type)
    if native is not None:
        values = numpy_view(array, native)
        nulls = null_mask(array)
        return values if nulls is None else np.where(nulls, np.nan, values)
    try:
        array = array.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        detail = " ".join(str(error).split())[:120]
        raise XentError(
            f"{source}: column {column!r} is not numeric ({detail})",
            hint="score, target and weight columns must hold numbers",
        ) from None
    values = numpy_view(array, np.float64)
    nulls = null_mask(array)
    return values if nulls is None else np.where(nulls, np.nan, values)


def python_values(array: pa.Array, positions: NDArray[np.intp]) -> list[Any]:
    """The Python values at some positions (for the few rows that are shown)."""
    return [array[int(i)].as_py() for i in positions]


def arrow_indices(index: NDArray[np.integer[Any]]) -> pa.Array:
    """Positions for ``take`` as an Arrow int64 array over the numpy buffer (``pa.array`` of
    a numpy array would import pandas: a tenth of a second per run)."""
    values = np.ascontiguousarray(index, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])
