"""TIDE's error kinds and what fixing each is worth, on hand-built cases and against tidecv."""

import dataclasses

import numpy as np
import pytest
from tidecv import TIDE, Data

from detkit.analysis.confusion import confusion_matrix
from detkit.analysis.error_report import error_rows, render_error_summary, write_error_sheet
from detkit.analysis.error_tags import read_sheet, rows_tagged, sheet_tags, summarise_tags
from detkit.analysis.tide import KINDS, ErrorAnalysis
from detkit.data.formats.coco import dataset_to_coco
from detkit.data.shapes import ensure_shapes
from detkit.evaluation.coco import evaluate_coco
from detkit.exceptions import DatasetError
from tests.conftest import TINY_SHAPES, noisy_detections

A, B = 1, 2  # category ids


def _hand_built() -> tuple[dict, list[dict]]:
    """Three images; every kind of error once (background twice), by construction:

    image 1: g1 (a) found by d1; d2 repeats it (duplicate); d3 calls b's g2 "a" (classification);
             d4 is an "a" at IoU 1/3 with a's g3 (localisation); d5 a "b" at IoU 1/3 with g3
             (both); d6 a "b" on nothing (background); b's g4 nobody finds (missed).
    image 2: g5 (a) found by d7, scoring low. image 3: no boxes, one "a" (background).
    """
    boxes = [(1, A, [10, 10, 40, 40]), (1, B, [100, 10, 40, 40]), (1, A, [10, 100, 40, 40])]
    boxes += [(1, B, [100, 100, 40, 40]), (2, A, [50, 50, 40, 40])]
    ground_truth = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 200, "height": 200} for i in (1, 2, 3)],
        "categories": [{"id": A, "name": "a"}, {"id": B, "name": "b"}],
        "annotations": [
            {"id": n, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for n, (i, c, b) in enumerate(boxes, start=1)
        ],
    }
    found = [
        (1, A, [10, 10, 40, 40], 0.9),  # d1: g1
        (1, A, [12, 12, 40, 40], 0.8),  # d2: g1 again, IoU 0.82
        (1, A, [100, 10, 40, 40], 0.7),  # d3: on g2, a b
        (1, A, [30, 100, 40, 40], 0.6),  # d4: IoU 1/3 with g3
        (1, B, [10, 120, 40, 40], 0.5),  # d5: IoU 1/3 with g3, wrong class
        (1, B, [160, 160, 30, 30], 0.4),  # d6: nothing there
        (3, A, [20, 20, 30, 30], 0.3),  # on an image without boxes
        (2, A, [50, 50, 40, 40], 0.2),  # d7: g5
    ]
    detections = [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in found]
    return ground_truth, detections


def _ap(steps: dict[float, float]) -> float:
    """COCO's 101-point AP of an interpolated precision given as {recall reached: precision up to it}."""
    reached = sorted(steps.items())
    return sum(next((p for r, p in reached if r >= point), 0.0) for point in np.linspace(0, 1, 101)) / 101


# Class a (3 boxes), by hand: TP .9, FP .8, FP .7, FP .6, FP .3, TP .2 -> precision 1 up to
# recall 1/3, 2/6 up to 2/3. Class b (2 boxes): no match -> 0.
AP_A = _ap({1 / 3: 1.0, 2 / 3: 2 / 6})
AP_A_ONE_FALSE_POSITIVE_LESS = _ap({1 / 3: 1.0, 2 / 3: 2 / 5})


def test_each_kind_is_found_as_built():
    analysis = ErrorAnalysis(*_hand_built())
    kinds = {(e.kind, e.detection_id, e.truth_id) for e in analysis.errors}
    assert kinds == {
        ("duplicate", 2, 1),
        ("classification", 3, 2),
        ("localisation", 4, 3),
        ("both", 5, None),
        ("background", 6, None),
        ("background", 7, None),
        ("missed", None, 4),
    }
    localisation = next(e for e in analysis.errors if e.kind == "localisation")
    assert localisation.iou == pytest.approx(1 / 3) and localisation.takes_truth
    assert next(e for e in analysis.errors if e.kind == "classification").truth_category_id == B


def test_dap_of_each_kind_is_as_computed_by_hand():
    ground_truth, detections = _hand_built()
    analysis = ErrorAnalysis(ground_truth, detections)
    breakdown = analysis.breakdown()
    assert breakdown["AP50"] == pytest.approx(evaluate_coco(ground_truth, detections)["mAP50"], abs=1e-12)
    assert breakdown["AP50"] == pytest.approx((AP_A + 0) / 2)
    expected = {
        "duplicate": (AP_A_ONE_FALSE_POSITIVE_LESS - AP_A) / 2,
        # d3 leaves a (one false positive less) and finds g2 for b: precision 1 up to recall 1/2.
        "classification": (AP_A_ONE_FALSE_POSITIVE_LESS - AP_A + _ap({1 / 2: 1.0})) / 2,
        # d4 finds g3: TP .9, FP .8, FP .7, TP .6, FP .3, TP .2 -> 1 to 1/3, then 3/6 to 1.
        "localisation": (_ap({1 / 3: 1.0, 1.0: 3 / 6}) - AP_A) / 2,
        "both": 0.0,  # b still finds nothing
        # d6 and the "a" on the empty image go: class a one false positive less, b still 0.
        "background": (AP_A_ONE_FALSE_POSITIVE_LESS - AP_A) / 2,
        "missed": 0.0,  # b has one box left, still not found
    }
    counts = {"duplicate": 1, "classification": 1, "localisation": 1, "both": 1, "background": 2, "missed": 1}
    for kind in KINDS:
        assert breakdown["kinds"][kind]["count"] == counts[kind], kind
        assert breakdown["kinds"][kind]["dAP"] == pytest.approx(expected[kind], abs=1e-12), kind
    assert breakdown["kinds"]["classification"]["per_class"]["b"]["dAP"] == pytest.approx(_ap({1 / 2: 1.0}))


def test_fixing_every_error_gives_ap_1():
    analysis = ErrorAnalysis(*_hand_built())
    assert analysis.average_precision(analysis.errors) == pytest.approx([1.0, 1.0], abs=1e-12)
    assert analysis.breakdown()["special"]["false_positives"]["dAP"] > 0


def test_confusion_matrix_pairs_boxes_regardless_of_class():
    ground_truth, detections = _hand_built()
    matrix = confusion_matrix(ground_truth, detections, score_threshold=0.35)
    # rows truth a, b, background; columns predicted a, b, background (not found)
    assert matrix.tolist() == [[1, 0, 2], [1, 0, 1], [2, 2, 0]]  # d1 | d3 | g3, g5 ; g4 ; d2, d4 | d5, d6


def _reference_confusion(ground_truth, detections, score_threshold):
    """The class-agnostic confusion matrix read off pycocotools' own COCOeval (``useCats=0``,
    IoU 0.5, area all, 100 detections per image): the reference the one matching must equal."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    kept = [d for d in detections if d["score"] >= score_threshold]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {k: list(v) for k, v in ground_truth.items()}
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(kept), "bbox")
        params = evaluator.params
        params.useCats, params.iouThrs = 0, np.array([0.5])
        params.areaRng, params.areaRngLbl, params.maxDets = [params.areaRng[0]], ["all"], [100]
        evaluator.evaluate()
    slot = {c["id"]: k for k, c in enumerate(ground_truth["categories"])}
    background = len(slot)
    matrix = np.zeros((background + 1, background + 1), dtype=np.int64)
    for image in filter(None, evaluator.evalImgs):
        for dt_id, gt_id in zip(image["dtIds"], image["dtMatches"][0]):
            predicted = slot[evaluator.cocoDt.anns[dt_id]["category_id"]]
            if gt_id == 0:
                matrix[background, predicted] += 1
            elif not truth.anns[int(gt_id)]["iscrowd"]:
                matrix[slot[truth.anns[int(gt_id)]["category_id"]], predicted] += 1
        for gt_id, matched, ignore in zip(image["gtIds"], image["gtMatches"][0], image["gtIgnore"]):
            if not matched and not ignore:
                matrix[slot[truth.anns[gt_id]["category_id"]], background] += 1
    return matrix


@pytest.mark.parametrize("score_threshold", [0.0, 0.5])
def test_the_confusion_matrix_is_pycocotools_matching_regardless_of_class(shapes_with_detections, score_threshold):
    ground_truth, detections = shapes_with_detections
    ours = confusion_matrix(ground_truth, detections, score_threshold)
    reference = _reference_confusion(ground_truth, detections, score_threshold)
    assert ours.tolist() == reference.tolist()
    assert ours[:-1, :-1].sum() > ours[:-1, :-1].trace() > 0, "classes confused and found: a real test"


def test_a_class_aware_confusion_matrix_pairs_boxes_within_their_class(shapes_with_detections):
    ground_truth, detections = shapes_with_detections
    matrix = confusion_matrix(ground_truth, detections, 0.3, class_agnostic=False)
    classes = len(ground_truth["categories"])
    assert np.count_nonzero(matrix[:classes, :classes] - np.diag(np.diag(matrix[:classes, :classes]))) == 0
    truths = np.bincount(
        [[c["id"] for c in ground_truth["categories"]].index(a["category_id"]) for a in ground_truth["annotations"]],
        minlength=classes,
    )
    assert matrix[:classes].sum(axis=1).tolist() == truths.tolist(), "each object once: found or missed"


@pytest.fixture(scope="module")
def shapes_with_detections(tmp_path_factory):
    dataset = ensure_shapes(tmp_path_factory.mktemp("tide") / "shapes", dataclasses.replace(TINY_SHAPES, num_scenes=20))
    ground_truth = dataset_to_coco(dataset)
    detections = noisy_detections(ground_truth, dataset.category_ids, seed=1)
    rng = np.random.default_rng(2)
    for det in list(detections[::3]):  # near-copies scoring lower: duplicates
        bbox = (np.asarray(det["bbox"]) + rng.normal(0, 1, 4)).tolist()
        detections.append({**det, "bbox": bbox, "score": det["score"] * 0.9})
    return ground_truth, detections


def test_dap_matches_tidecv_the_authors_implementation(shapes_with_detections):
    ground_truth, detections = shapes_with_detections
    ours = ErrorAnalysis(ground_truth, detections).breakdown()
    theirs, counts = _tidecv(ground_truth, detections)
    names = {"classification": "Cls", "localisation": "Loc", "both": "Both", "duplicate": "Dupe"}
    names |= {"background": "Bkg", "missed": "Miss"}
    assert min(counts.values()) > 0, "every kind occurs"
    for kind, short in names.items():
        assert ours["kinds"][kind]["count"] == counts[short], kind
        assert 100 * ours["kinds"][kind]["dAP"] == pytest.approx(theirs[short], abs=0.1), kind
    assert 100 * ours["AP50"] == pytest.approx(theirs["AP"], abs=0.1)


def _tidecv(ground_truth: dict, detections: list[dict]) -> tuple[dict[str, float], dict[str, int]]:
    truth, found = Data("truth"), Data("found")
    for image in ground_truth["images"]:
        truth.add_image(image["id"], image["file_name"])
    for category in ground_truth["categories"]:
        truth.add_class(category["id"], category["name"])
    for ann in ground_truth["annotations"]:
        truth.add_ground_truth(ann["image_id"], ann["category_id"], ann["bbox"])
    for det in detections:
        found.add_detection(det["image_id"], det["category_id"], det["score"], det["bbox"])
    tide = TIDE()
    run = tide.evaluate(truth, found, mode=TIDE.BOX)
    errors = tide.get_main_errors()["found"] | {"AP": run.ap}
    return errors, {kind.short_name: len(found) for kind, found in run.error_dict.items()}


def test_tagged_sheet_says_what_each_tag_explains(tmp_path):
    analysis = ErrorAnalysis(*_hand_built())
    rows = error_rows(analysis, {1: "1.jpg", 2: "2.jpg", 3: "3.jpg"})
    by_kind = {row["kind"]: row for row in rows}
    by_kind["localisation"]["tags"] = "occluded"
    by_kind["both"]["tags"] = "occluded; blurry"
    by_kind["missed"]["tags"] = "mislabelled"
    next(r for r in rows if r["kind"] == "background")["tags"] = "ok"
    write_error_sheet(tmp_path / "errors.csv", rows)
    sheet_rows = read_sheet(tmp_path / "errors.csv")
    tags = sheet_tags(sheet_rows, analysis, tmp_path / "errors.csv")
    summary = summarise_tags(analysis, tags)
    assert summary["reviewed"] == 4 and summary["errors"] == 7
    occluded = summary["tags"]["occluded"]
    assert occluded["count"] == 2 and occluded["share"] == 0.5
    assert occluded["kinds"] == {"localisation": 1, "both": 1}
    fixed = [e for e in analysis.errors if e.kind in ("localisation", "both")]
    expected = np.mean(analysis.average_precision(fixed)) - np.mean(analysis.class_ap)
    assert occluded["dAP_tagged"] == pytest.approx(expected)
    assert occluded["dAP_ceiling"] == pytest.approx(0.5 * (1 - np.mean(analysis.class_ap)))
    mislabelled = rows_tagged(sheet_rows, "mislabelled")
    assert [r["kind"] for r in mislabelled] == ["missed"] and mislabelled[0]["truth_id"] == "4"


def test_a_sheet_from_another_analysis_is_refused(tmp_path):
    analysis = ErrorAnalysis(*_hand_built())
    rows = error_rows(analysis, {})
    rows[0]["kind"] = "missed" if rows[0]["kind"] != "missed" else "background"
    write_error_sheet(tmp_path / "errors.csv", rows)
    with pytest.raises(DatasetError, match=r"errors.csv: line 2 .*no such error.*same run, split and checkpoint"):
        sheet_tags(read_sheet(tmp_path / "errors.csv"), analysis, tmp_path / "errors.csv")
    (tmp_path / "other.csv").write_text("image,notes\n1,x\n")
    with pytest.raises(DatasetError, match=r"other.csv: columns \['error_id', 'image_id', 'kind', 'tags'\] missing"):
        read_sheet(tmp_path / "other.csv")


def test_a_weak_run_is_reported_as_it_is_never_with_an_undefined_gain_as_a_number():
    """A first short run finds nothing: every box missed, every detection on background (issue
    39: the summary said "No errors." over that table, and -1.000 AP50 gained: pycocotools'
    "undefined", left when fixing every missed box leaves none to find)."""
    ground_truth, _ = _hand_built()
    detections = [{"image_id": 3, "category_id": A, "bbox": [10 * k, 10, 20, 20], "score": 0.1} for k in range(1, 6)]
    analysis = ErrorAnalysis(ground_truth, detections)
    breakdown = analysis.breakdown()
    kinds = breakdown["kinds"]
    assert breakdown["AP50"] == 0 and kinds["missed"]["count"] == 5 and kinds["background"]["count"] == 5
    assert kinds["missed"]["dAP"] is None, "no box left to find: undefined, not -1"
    assert kinds["background"]["dAP"] == 0
    summary = render_error_summary({"split": "dev", "images": 3, "breakdown": breakdown})
    assert "No errors" not in summary and "-1.000" not in summary
    assert "10 errors. Fixing background errors +0.000, missed objects undefined (no boxes left) AP50" in summary
