"""The docstring task: deterministic, balanced, train and test disjoint, and held out of the
pretraining text (its modules and its exact texts), which is the point of the task."""

import numpy as np
import pytest

from labs.data import docstrings as D
from labs.data.corpus import CORPUS_MODULES, CharTokenizer, load_text_corpus, train_val_split


@pytest.fixture(scope="module")
def corpus_parts():
    text = load_text_corpus()
    return text, *train_val_split(text, val_fraction=0.1)  # chapter 7's split


def test_pretraining_modules_are_exactly_those_with_text_in_the_training_part(corpus_parts):
    text, train, _ = corpus_parts
    inside = set(D.pretraining_modules())
    rebuilt = "\n\n".join(d for m in sorted(CORPUS_MODULES) for d in D.module_docstrings(m)) + "\n"
    assert rebuilt == text  # the module-by-module reading is the corpus
    for m in CORPUS_MODULES:
        docs = D.module_docstrings(m)
        if docs:
            assert (m in inside) == (text.index(docs[0]) < len(train)), m


def test_the_downstream_texts_and_modules_are_disjoint_from_pretraining(corpus_parts):
    _, train, _ = corpus_parts
    modules = {m for ms in D.DOCSTRING_CLASSES.values() for m in ms}
    assert modules.isdisjoint(D.pretraining_modules())
    texts, _, _ = D.load_docstrings("all", balance=False)
    pretraining_docs = {d for m in D.pretraining_modules() for d in D.module_docstrings(m)}
    assert pretraining_docs.isdisjoint(texts)
    assert sum(t in train for t in texts[:200]) == 0  # not even as a piece of the training text


def test_the_split_is_deterministic_balanced_and_disjoint():
    train, y_train, names = D.load_docstrings("train")
    test, y_test, names_again = D.load_docstrings("test")
    assert names == names_again == tuple(D.DOCSTRING_CLASSES)
    assert train == D.load_docstrings("train")[0] and (y_train == D.load_docstrings("train")[1]).all()
    assert set(train).isdisjoint(test) and len(set(train)) == len(train)
    assert y_train.dtype == np.int64 and len(y_train) == len(train)
    counts = np.bincount(y_train, minlength=len(names))
    assert counts.min() == counts.max() >= 60  # balanced, and enough for a 16-to-256-label curve
    assert abs(len(test) / (len(test) + len(train)) - 0.25) < 0.01
    assert set(y_train[:8].tolist()) != {y_train[0]}  # classes interleaved, not in blocks
    assert D.load_docstrings("train", seed=1)[0] != train  # another seed, another draw
    everything = set(D.load_docstrings("all", balance=False)[0])
    for seed in (0, 1):  # unbalanced, a seed only moves texts between train and test
        parts = [set(D.load_docstrings(split, balance=False, seed=seed)[0]) for split in ("train", "test")]
        assert parts[0] | parts[1] == everything and parts[0].isdisjoint(parts[1])


def test_every_character_is_one_chapter_7s_tokenizer_knows(corpus_parts):
    tokenizer = CharTokenizer.fit(corpus_parts[0])
    texts, _, _ = D.load_docstrings("all")
    tokenizer.encode("".join(texts))  # raises on an unknown character


def test_few_label_subsets_are_stratified_and_bad_requests_are_refused():
    _, labels, names = D.load_docstrings("train")
    chosen = D.labelled_subset(labels, 18, seed=3)
    assert len(set(chosen.tolist())) == 18
    assert sorted(np.bincount(labels[chosen]).tolist()) == [4, 4, 5, 5]
    assert (D.labelled_subset(labels, 18, seed=3) == chosen).all()
    with pytest.raises(ValueError, match="one per class"):
        D.labelled_subset(labels, 2)
    with pytest.raises(ValueError, match="pretraining part"):
        D.load_docstrings(classes={"email": ("email",), "xml": ("xml",)})
    with pytest.raises(ValueError, match="split"):
        D.load_docstrings("validation")
    with pytest.raises(ValueError, match="one class only"):
        D.load_docstrings(classes={"a": ("xml",), "b": ("xml",)})


def test_the_domain_split_reads_disjoint_parts_of_the_same_held_out_packages():
    from labs.data.docstrings import DOMAIN_SPLIT, module_docstrings

    DOCSTRING_CLASSES, load_docstrings = D.DOCSTRING_CLASSES, D.load_docstrings
    assert set(DOMAIN_SPLIT["A"]) == set(DOMAIN_SPLIT["B"]) == set(DOCSTRING_CLASSES)
    for label in DOCSTRING_CLASSES:
        a, b = set(DOMAIN_SPLIT["A"][label]), set(DOMAIN_SPLIT["B"][label])
        assert not a & b
        assert all(m.split(".")[0] in DOCSTRING_CLASSES[label] for m in a | b)      # parts of the class's own packages
    texts = {d: set(load_docstrings("all", DOMAIN_SPLIT[d])[0]) for d in "AB"}
    assert texts["A"] and texts["B"] and not texts["A"] & texts["B"]
    # a dotted name reads one part of a package: the parts are subsets of the whole
    assert set(module_docstrings("xml.dom")) <= set(module_docstrings("xml")) and module_docstrings("xml.dom")
    with pytest.raises(ValueError, match="pretraining part"):
        load_docstrings("all", {"a": ("email.mime",), "b": ("xml.dom",)})           # email is pretraining data
