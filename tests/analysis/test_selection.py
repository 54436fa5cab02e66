"""The acquisition functions on cases built for them."""

import numpy as np
import pytest

from detkit.analysis.selection import k_center_greedy, select, uncertainty
from detkit.exceptions import ConfigError


def copies_and_others(seed: int = 0) -> np.ndarray:
    """50 near-identical feature vectors (one scene, filmed) and 5 of other scenes."""
    rng = np.random.default_rng(seed)
    scene = rng.normal(size=16)
    copies = scene + 0.01 * rng.normal(size=(50, 16))
    others = rng.normal(size=(5, 16)) * 3
    return np.concatenate([copies, others])


def test_diversity_takes_one_frame_of_a_scene_and_then_the_other_scenes():
    picked = k_center_greedy(copies_and_others(), 6)
    assert sorted(picked[:5]) == [50, 51, 52, 53, 54] and sum(p < 50 for p in picked) == 1


def test_diversity_counts_what_is_labelled_as_seen():
    features = copies_and_others()
    labelled = features[50:] + 0.001  # the other scenes are labelled already
    assert k_center_greedy(features, 1)[0] >= 50, "nothing labelled: the scenes far from the crowd first"
    assert k_center_greedy(features, 1, labelled=labelled)[0] < 50, "the others seen: the one scene not seen"


def test_uncertainty_ranks_unsure_detections_first():
    sure = np.array([0.97, 0.95] + [0.1] * 40)  # decided: two objects, then clutter every image has
    unsure = np.array([0.5, 0.45, 0.55])
    nothing_found = np.array([0.12, 0.08])
    scores = [sure, unsure, nothing_found, np.array([0.6, 0.04])]
    assert uncertainty([np.zeros(0)])[0] == 1.0, "no detection: the detector may have missed everything"
    assert select("uncertainty", 4, scores, np.zeros((4, 2))) == [1, 3, 2, 0]


def test_hybrid_spreads_its_picks_over_the_most_uncertain():
    features = copies_and_others()
    scores = [np.array([0.5] * 10)] * 50 + [np.array([0.45] * 9)] * 5  # the copies are the most uncertain
    picked = select("hybrid", 4, scores, features)
    assert sum(p < 50 for p in picked) <= 1, "one copy at most, then the next most uncertain scenes"
    sure = [np.array([0.99])] * 55
    sure[7] = np.array([0.5, 0.5, 0.5])  # one copy is unsure: it is taken, the other copies are not
    picked = select("hybrid", 6, sure, features)
    assert 7 in picked and sum(p < 50 for p in picked) == 1


def test_random_is_seeded_and_unknown_strategies_are_refused():
    scores = [np.zeros(0)] * 20
    assert select("random", 5, scores, np.zeros((20, 2)), seed=3) == select(
        "random", 5, scores, np.zeros((20, 2)), seed=3
    )
    assert len(set(select("random", 20, scores, np.zeros((20, 2))))) == 20
    with pytest.raises(ConfigError, match="strategy='entropy'"):
        select("entropy", 5, scores, np.zeros((20, 2)))
