"""Metrics on hand-made label maps whose answers were worked out by hand (as exact fractions)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from deeplab_widgets.errors import DatasetError
from deeplab_widgets.workflows.metrics import ConfusionMatrix, Metrics

# 5 classes; the 255 pixel is ignored; class 3 is predicted but absent from the ground truth; class 4 never occurs.
TRUTH = np.array([[0, 0, 1], [1, 2, 255]], np.uint8)
PRED = np.array([[0, 1, 1], [1, 3, 2]], np.uint8)
# counted pairs (truth, pred): (0,0) (0,1) (1,1) (1,1) (2,3)
# IoU: 0 -> 1/(2+1-1) = 1/2; 1 -> 2/(2+3-2) = 2/3; 2 -> 0/1 = 0; 3 -> 0/1 = 0; 4 -> undefined


@pytest.fixture
def small() -> Metrics:
    cm = ConfusionMatrix(5, ignore_index=255, class_names=("a", "b", "c", "d", "e"))
    cm.update(TRUTH, PRED)
    return cm.metrics()


def test_confusion_matrix_counts_pairs_and_skips_ignored_pixels(small: Metrics) -> None:
    expected = np.zeros((5, 5), np.int64)
    expected[0, 0] = expected[0, 1] = expected[2, 3] = 1
    expected[1, 1] = 2
    np.testing.assert_array_equal(small.confusion, expected)
    assert small.confusion.dtype == np.int64
    assert small.pixels == 5


def test_metrics_match_hand_computed_fractions(small: Metrics) -> None:
    assert small.pixel_accuracy == float(Fraction(3, 5))
    assert small.mean_class_accuracy == float(Fraction(1, 2))  # (1/2 + 2/2 + 0/1) / 3
    assert small.miou == float(Fraction(7, 18))  # (1/2 + 2/3 + 0) / 3 classes in the ground truth
    assert small.miou_all == float(Fraction(7, 24))  # same sum over 4 classes with a non-empty union
    assert small.fw_iou == float(Fraction(7, 15))  # 2/5 * 1/2 + 2/5 * 2/3 + 1/5 * 0
    assert small.iou[:4] == (0.5, float(Fraction(2, 3)), 0.0, 0.0)
    assert math.isnan(small.iou[4])  # neither labelled nor predicted: undefined, not 0


def test_present_classes_and_names(small: Metrics) -> None:
    assert small.present == (0, 1, 2)
    assert small.class_iou() == {"a": 0.5, "b": float(Fraction(2, 3)), "c": 0.0}
    assert small.to_dict()["miou"] == small.miou
    norm = small.normalized_confusion()
    np.testing.assert_allclose(norm.sum(axis=1), [1, 1, 1, 0, 0])
    assert norm[0, 1] == 0.5


def test_perfect_prediction_scores_one() -> None:
    truth = np.array([[0, 1], [2, 255]], np.uint8)
    pred = np.array([[0, 1], [2, 7]], np.uint8)  # the ignored pixel may hold anything
    cm = ConfusionMatrix(3)
    cm.update(truth, pred)
    m = cm.metrics()
    assert (m.pixel_accuracy, m.miou, m.miou_all, m.mean_class_accuracy, m.fw_iou) == (1.0, 1.0, 1.0, 1.0, 1.0)


def test_streaming_is_exact_and_order_free() -> None:
    rng = np.random.default_rng(0)
    truths = [rng.integers(0, 4, (31, 17)).astype(np.uint8) for _ in range(3)]
    preds = [rng.integers(0, 4, (31, 17)).astype(np.uint8) for _ in range(3)]
    forward, backward, whole = ConfusionMatrix(4, None), ConfusionMatrix(4, None), ConfusionMatrix(4, None)
    parts = [forward.update(t, p) for t, p in zip(truths, preds, strict=True)]
    for t, p in zip(truths[::-1], preds[::-1], strict=True):
        backward.update(t, p)
    whole.update(np.concatenate(truths), np.concatenate(preds))
    np.testing.assert_array_equal(forward.matrix, whole.matrix)
    np.testing.assert_array_equal(sum(parts), whole.matrix)
    assert forward.metrics().to_dict() == backward.metrics().to_dict()  # Fractions: no float summation order
    assert forward.metrics().pixels == 3 * 31 * 17
    forward.reset()
    assert forward.matrix.sum() == 0


def test_all_pixels_ignored_gives_nan_not_a_crash() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.full((2, 2), 255, np.uint8), np.zeros((2, 2), np.uint8))
    m = cm.metrics()
    assert m.pixels == 0
    assert math.isnan(m.miou) and math.isnan(m.pixel_accuracy) and math.isnan(m.fw_iou)


def test_ignore_index_can_be_a_class_id() -> None:
    cm = ConfusionMatrix(3, ignore_index=0)  # ADE20K style: 0 = "other", not scored
    cm.update(np.array([[0, 1, 2]]), np.array([[2, 1, 1]]))
    assert cm.metrics().pixel_accuracy == 0.5
    assert cm.metrics().present == (1, 2)


def test_size_mismatch_is_refused_with_the_name() -> None:
    with pytest.raises(
        DatasetError, match=r"^cat\.png: ground truth is 3x2 but the prediction is 2x3; they must match$"
    ):
        ConfusionMatrix(3).update(np.zeros((2, 3)), np.zeros((3, 2)), name="cat.png")


def test_out_of_range_labels_are_refused() -> None:
    with pytest.raises(DatasetError, match=r"^image: ground truth has labels \[5\] outside 0\.\.2$"):
        ConfusionMatrix(3).update(np.array([[0, 5]]), np.array([[0, 1]]))
    with pytest.raises(DatasetError, match=r"^x: prediction has labels \[3\] outside 0\.\.2$"):
        ConfusionMatrix(3).update(np.array([[0, 1]]), np.array([[3, 1]]), name="x")


def test_bad_construction() -> None:
    with pytest.raises(DatasetError, match="2 class names for 3 classes"):
        ConfusionMatrix(3, class_names=("a", "b"))
    with pytest.raises(DatasetError, match="must be square"):
        Metrics.from_confusion(np.zeros((2, 3), np.int64))


def test_top_confusions_name_where_the_true_pixels_went() -> None:
    confusion = np.array([[80, 20, 0], [5, 95, 0], [0, 10, 0]])  # class 2 (10 px) all predicted as class 1
    m = Metrics.from_confusion(confusion, ("background", "bicycle", "bottle"))
    assert m.top_confusions(2) == (("bottle", "bicycle", 1.0), ("background", "bicycle", 0.2))
    assert m.top_confusions(9)[-1] == ("bicycle", "background", 0.05) and len(m.top_confusions(9)) == 3
    assert Metrics.from_confusion(np.eye(2, dtype=int) * 5).top_confusions() == ()
