"""Document keys: integer ids kept in arrays, text otherwise, one document either way."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import xent_cli
from xent_cli.core.keys import KeyIndex

from .conftest import invoke


def test_integer_ids_are_numbered_in_order_of_arrival() -> None:
    index = KeyIndex()
    assert index.number_ids(np.array([5, 9, 2])).tolist() == [0, 1, 2]
    assert index.number_ids(np.array([1, 2, 7, 9])).tolist() == [3, 2, 4, 1]
    assert list(index.texts()) == ["5", "9", "2", "1", "7"]
    assert index.texts()[4] == "7"
    assert len(index) == 5


def test_a_text_key_turns_the_index_to_text_and_keeps_the_numbers() -> None:
    index = KeyIndex()
    index.number_ids(np.array([3, -4]))
    copy = index.copy()
    assert index.number_texts(["-4", "a", "a", "3"]).tolist() == [1, 2, 2, 0]
    assert index.number_ids(np.array([10, 3])).tolist() == [3, 0]
    assert list(index.texts()) == ["3", "-4", "a", "10"]
    assert list(copy.texts()) == ["3", "-4"]  # a copy is not changed with it
    other = KeyIndex()
    other.number_texts(["10", "b"])
    assert copy.number_index(other).tolist() == [2, 3]


def test_integer_and_text_ids_of_one_document_are_summed_together(tmp_path) -> None:
    ints = tmp_path / "ints.parquet"
    texts = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"doc_id": [7, 7, 8], "logprob": [-1.0, -2.0, -0.5]}), ints)
    pq.write_table(pa.table({"doc_id": ["7", "9"], "logprob": [-3.0, -0.25]}), texts)
    report = xent_cli.evaluate([str(ints), str(texts)], top_docs=5).to_dict()
    docs = report["documents"]
    assert docs["count"] == 3
    worst = {d["id"]: d for d in docs["worst"]}
    assert worst["7"]["tokens"] == 3
    assert worst["7"]["loss"] == 2.0
    assert report["loss"] == (1 + 2 + 0.5 + 3 + 0.25) / 5


def test_json_lines_ids_keep_their_own_types(tmp_path) -> None:
    """Integer ids in JSON Lines (as pandas' to_json writes them) read as integers; tokens to
    ignore too; a column holding both 7 and "7" is one line with what to do."""
    numbers = tmp_path / "n.jsonl"
    numbers.write_text(
        '{"doc_id": 1, "logprob": -1.0, "token_id": 5}\n'
        '{"doc_id": 1, "logprob": -2.0, "token_id": -100}\n'
        '{"doc_id": 2, "logprob": -0.5, "token_id": 7}\n'
    )
    report = xent_cli.evaluate(numbers, ignore_label="-100").to_dict()
    assert report["documents"]["count"] == 2
    assert report["n_ignored"] == 1
    assert report["loss"] == (1.0 + 0.5) / 2
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"doc_id": "007", "logprob": -1.0}\n{"doc_id": "7", "logprob": -3.0}\n')
    assert xent_cli.evaluate(texts).to_dict()["documents"]["count"] == 2  # 007 is not 7
    mixed = tmp_path / "m.jsonl"
    mixed.write_text('{"doc_id": "7", "logprob": -1.0}\n{"doc_id": 7, "logprob": -2.0}\n')
    result = invoke("eval", mixed)
    assert result.exit_code == 2
    assert "write every 'doc_id' value as one type" in result.stderr
    assert "Traceback" not in result.stderr


def test_ids_continuing_past_the_largest_are_appended_and_copies_stay_apart() -> None:
    index = KeyIndex()
    assert index.number_ids(np.arange(0, 3000)).tolist() == list(range(3000))
    copy = index.copy()
    # a batch that continues the last document, then new ones beyond it
    assert index.number_ids(np.array([2999, 3001, 3000])).tolist() == [2999, 3000, 3001]
    assert copy.number_ids(np.array([5000, 2])).tolist() == [3000, 2]
    assert index.number_ids(np.array([5000, -1])).tolist() == [3002, 3003]  # (inserted)
    assert index.texts()[3000:] == ["3001", "3000", "5000", "-1"]
    assert list(copy.texts())[2998:] == ["2998", "2999", "5000"]
    assert index.number_ids(np.array([-1, 3001, 0])).tolist() == [3003, 3000, 0]
    assert len(index) == 3004
    assert len(copy) == 3001


def test_a_key_named_twice_in_one_call_is_one_key_with_both_rows() -> None:
    from fractions import Fraction

    from xent_cli.core.token_state import KeyedSums

    sums = KeyedSums()
    loss = np.array([0.1, 2.0, 3.0, 0.7])
    total = sums.add(["a", "b", "a"], np.array([0, 1, 2, 0]), loss, [1, None, None])
    sums.add(["b", "c"], np.array([0, 1]), np.array([0.5, 0.25]), [1, None, None])
    keys, losses, counts = sums.finish(ordered=True)
    assert keys == ["a", "b", "c"]
    expected_a = float(Fraction(0.1) + Fraction(3.0) + Fraction(0.7))
    assert losses.tolist() == [expected_a, 2.5, 0.25]
    assert counts[:, 0].tolist() == [3, 2, 1]
    assert total.total() == float(sum(map(Fraction, loss.tolist())))
