"""Arrow arrays -> numpy without pandas.

pyarrow imports pandas (a third of a second) as soon as it converts a Python or numpy value
(``fill_null(0)``, ``take(ndarray)``, ``to_numpy()``), so the hot path reads Arrow buffers
directly: values as a numpy view, nulls from the validity bitmap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .errors import XentError

NATIVE_NUMBERS = {
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
    return valid == 0


def integers(array: pa.Array, missing: int) -> NDArray[np.int64]:
    """An integer array as int64, with ``missing`` in the null slots."""
    native = NATIVE_NUMBERS.get(array.type)
    if native is None or not np.issubdtype(native, np.integer):
        array = array.cast(pa.int64())
        native = np.int64
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
