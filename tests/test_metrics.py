"""Classification metrics follow scikit-learn's definitions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eegemo.train.metrics import classification_metrics

CLASSES = ["a", "b", "c", "d"]


def sklearn_scores(y, p):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore")
        return {
            "accuracy": accuracy_score(y, p),
            "balanced_accuracy": balanced_accuracy_score(y, p),
            "macro_f1": f1_score(y, p, average="macro", zero_division=0),
        }


def test_macro_f1_counts_a_predicted_class_that_never_occurs():
    y, p = [0, 0, 0, 0, 1, 1], [0, 0, 2, 2, 1, 1]
    m = classification_metrics(y, p, ["x", "y", "z"])
    # F1 of x = 2/3, of y = 1, of z (predicted, never true) = 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["macro_f1"] == pytest.approx(sklearn_scores(y, p)["macro_f1"])
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)


@pytest.mark.parametrize(
    ("y", "p"),
    [
        ([0, 0, 0, 0, 1, 1], [0, 0, 2, 2, 1, 1]),  # a predicted class absent from the truth
        ([0, 1, 2, 2], [0, 1, 1, 1]),  # a true class never predicted
        ([0, 0, 1, 1], [0, 1, 1, 0]),  # two of the four classes seen at all
        ([3, 3, 3], [3, 3, 3]),  # one class, all right
        ([0, 0, 1], [3, 3, 2]),  # nothing right
    ],
)
def test_metrics_match_scikit_learn_on_edge_cases(y, p):
    m = classification_metrics(y, p, CLASSES)
    for key, value in sklearn_scores(y, p).items():
        assert m[key] == pytest.approx(value), key
    assert set(m["per_class"]) == set(CLASSES)  # the table still lists every class


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    y = rng.integers(0, 3, n)  # class d never occurs, but may be predicted
    p = np.where(rng.random(n) < 0.5, y, rng.integers(0, 4, n))
    m = classification_metrics(y, p, CLASSES)
    for key, value in sklearn_scores(y, p).items():
        assert m[key] == pytest.approx(value), key
