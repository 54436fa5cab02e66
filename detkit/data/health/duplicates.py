"""Copies of one image among a dataset's images, gathered into clusters: the same pixels, near
copies (re-encoded, resized, slightly cropped: alike detail thumbnails, `detail_thumbnail`, alike
everywhere, `similarity_without_strips`, and one picture by their keypoints, `keypoint_check`)
and an exporter's own copies (Roboflow's ``<stem>_<ext>.rf.<hash>.<ext>``), and the clusters
that span splits (leaks: a dev image the model has seen in training).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import DisjointSet
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detkit.data.health.copy_names import source_name
from detkit.data.health.keypoint_check import keypoints_of_pairs, one_picture
from detkit.data.images.signatures import THUMB_SIDE, Signature, signatures
from detkit.data.records import DetectionDataset
from detkit.progress import progress_bar

NEAR_SIMILARITY = 0.8  # detail thumbnails at least this alike may be copies (measured: copies >= 0.85, others <= 0.70)
STRIP_SIMILARITY = 0.5  # ... and still this alike with any strip taken out (measured on real photos: docs/data.md)
STRIP = THUMB_SIDE // 4  # a strip is a quarter of the thumbnail wide
BLOCK = 1024  # images compared with all others at once (BLOCK x images floats)


@dataclass(frozen=True)
class Cluster:
    """Images (positions in the list given) that are copies of one another, and how they were
    found: ``exact`` (same pixels), ``near`` (alike thumbnails), ``name`` (an exporter's copy
    names); ``similarity`` is the least similarity of the links that joined them (1 by name only)."""

    members: tuple[int, ...]
    kinds: frozenset[str]
    similarity: float


def similar_pairs(
    thumbnails: np.ndarray, min_similarity: float = NEAR_SIMILARITY
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs ``(i, j)``, ``i < j``, of unit-length ``thumbnails`` ``[N, D]`` whose dot product
    is at least ``min_similarity``, with it. Every pair is compared, `BLOCK` rows at a time
    against the rows after them: 5,000 images take about a second, 118,000 minutes
    (``benchmarks/data_health.py``)."""
    thumbnails = np.ascontiguousarray(thumbnails, dtype=np.float32)
    firsts, seconds, similarities = [], [], []
    for start in range(0, len(thumbnails), BLOCK):
        scores = thumbnails[start : start + BLOCK] @ thumbnails[start:].T
        rows, cols = np.nonzero(scores >= min_similarity)
        keep = cols > rows  # column 0 is row 0 of the block: its upper triangle, and all after it
        firsts.append(rows[keep] + start)
        seconds.append(cols[keep] + start)
        similarities.append(scores[rows[keep], cols[keep]])
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(similarities)


def similarity_without_strips(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The least cosine similarity of each pair of detail thumbnails (rows of ``first`` and
    ``second``, ``[P, 3 * THUMB_SIDE**2]``) with a strip of them taken out: any horizontal or
    vertical strip `STRIP` thumbnail pixels wide, or both edge strips of one axis (letterbox or
    pillarbox bars). A copy is alike everywhere; two different photos that share a watermark
    strip, a caption bar, a fixed frame or letterbox edges are alike only there (stock photos
    with one agency's footer reach 0.84 whole, 0.26 or less without it). ``[P]`` float32."""
    a = first.astype(np.float32).reshape(-1, 3, THUMB_SIDE, THUMB_SIDE)
    b = second.astype(np.float32).reshape(-1, 3, THUMB_SIDE, THUMB_SIDE)
    maps = np.stack([(a * b).sum(1), (a * a).sum(1), (b * b).sum(1)])  # [3, P, side, side]
    removed = []
    for lines in (maps.sum(axis=3), maps.sum(axis=2)):  # [3, P, side]: per row, per column
        removed.append(np.lib.stride_tricks.sliding_window_view(lines, STRIP, axis=2).sum(axis=3))
        removed.append((lines[..., :STRIP].sum(axis=2) + lines[..., -STRIP:].sum(axis=2))[..., None])
    left = maps.sum(axis=(2, 3))[..., None] - np.concatenate(removed, axis=2)  # [3, P, ways]
    return (left[0] / np.sqrt(np.maximum(left[1] * left[2], 1e-12))).min(axis=1, initial=1.0)


def near_copy_pairs(
    thumbnails: np.ndarray, min_similarity: float = NEAR_SIMILARITY
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`similar_pairs` of ``thumbnails`` that stay at least `STRIP_SIMILARITY` alike with any
    strip taken out (`similarity_without_strips`), with their whole similarity."""
    first, second, similarity = similar_pairs(thumbnails, min_similarity)
    kept = similarity_without_strips(thumbnails[first], thumbnails[second]) >= STRIP_SIMILARITY
    return first[kept], second[kept], similarity[kept]


def near_copy_links(
    thumbnails: np.ndarray, paths: Sequence[str], min_similarity: float = NEAR_SIMILARITY
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of `near_copy_pairs` that link copies, with their similarity: most alike first,
    each pair whose two images are not yet linked by the pairs kept before it is kept if its
    images (``paths``, one per row of ``thumbnails``) are one picture by their keypoints
    (`one_picture`: different photos that share a footer, a caption bar or a screenshot's frame
    are alike only there). A pair between images already linked is not compared: the links join
    the same clusters as all pairs of copies would, with far fewer comparisons where a fixed
    camera's frames make thousands of alike pairs."""
    first, second, similarity = near_copy_pairs(thumbnails, min_similarity)
    found = keypoints_of_pairs(paths, first, second)
    linked = DisjointSet(found)
    kept = np.zeros(len(first), dtype=bool)
    with progress_bar(len(first), "pairs of alike images compared", "pairs") as bar:
        for k in np.argsort(-similarity, kind="stable").tolist():
            i, j = int(first[k]), int(second[k])
            if not linked.connected(i, j) and one_picture(found[i], found[j]):
                kept[k] = True
                linked.merge(i, j)
            bar.update(1)
    return first[kept], second[kept], similarity[kept]


def find_clusters(
    signatures: Sequence[Signature],
    sources: Sequence[str],
    paths: Sequence[str],
    min_similarity: float = NEAR_SIMILARITY,
) -> list[Cluster]:
    """The clusters of two or more images among ``signatures`` (of the image files ``paths``;
    images that could not be read are left out of the pixel checks), linked by equal pixels,
    thumbnails at least ``min_similarity`` alike that are one picture by their keypoints
    (`near_copy_links`), or the same ``sources`` name (`source_name`), largest first."""
    count = len(signatures)
    index = np.array([k for k, s in enumerate(signatures) if not s.error], dtype=np.int64)
    thumbnails = np.stack([signatures[k].thumbnail for k in index]) if len(index) else np.zeros((0, 1))
    first, second, similarity = near_copy_links(thumbnails, [paths[k] for k in index.tolist()], min_similarity)
    first, second = index[first], index[second]
    exact = np.array([signatures[i].exact == signatures[j].exact for i, j in zip(first, second)], dtype=bool)
    by_name = _same_name_pairs(sources)
    links = np.concatenate([np.stack([first, second]), by_name], axis=1)
    graph = coo_matrix((np.ones(links.shape[1]), (links[0], links[1])), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    kinds: dict[int, set[str]] = {}
    least: dict[int, float] = {}
    for i, alike, same in zip(first.tolist(), similarity.tolist(), exact.tolist()):
        kinds.setdefault(component[i], set()).add("exact" if same else "near")
        least[component[i]] = min(least.get(component[i], 1.0), alike)
    for i in by_name[0].tolist():
        kinds.setdefault(component[i], set()).add("name")
    order = np.argsort(component, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(component[order]) != 0])
    clusters = [
        Cluster(tuple(members.tolist()), frozenset(kinds[component[members[0]]]), least.get(component[members[0]], 1.0))
        for members in np.split(order, starts[1:])
        if len(members) > 1
    ]
    return sorted(clusters, key=lambda c: (-len(c.members), c.members[0]))


def _same_name_pairs(sources: Sequence[str]) -> np.ndarray:
    """``[2, P]`` links chaining the images of each source name that is shared."""
    first_of: dict[str, int] = {}
    pairs = []
    for i, name in enumerate(sources):
        first = first_of.setdefault(name, i)
        if first != i:
            pairs.append((first, i))
    return np.array(pairs, dtype=np.int64).T.reshape(2, -1)


def leaks(clusters: Sequence[Cluster], split_of: Mapping[int, str]) -> list[tuple[Cluster, list[str]]]:
    """The clusters whose members (positions) lie in more than one split (``split_of``: a
    position's split; members in none are not counted), with those splits in order of first
    member; most splits first, then largest."""
    found = []
    for cluster in clusters:
        splits = list(dict.fromkeys(split_of[m] for m in cluster.members if m in split_of))
        if len(splits) > 1:
            found.append((cluster, splits))
    return sorted(found, key=lambda item: (-len(item[1]), -len(item[0].members), item[0].members[0]))


def kept_together(
    split_ids: Mapping[str, Sequence[int]], clusters: Sequence[Cluster], image_ids: Sequence[int]
) -> dict[str, list[int]]:
    """``split_ids`` with each cluster moved whole to the split of its first member (positions
    in ``image_ids``), the splits' order and the rest unchanged."""
    split_of = {image_id: name for name, ids in split_ids.items() for image_id in ids}
    for cluster in clusters:
        ids = [image_ids[m] for m in cluster.members if image_ids[m] in split_of]
        for image_id in ids[1:]:
            split_of[image_id] = split_of[ids[0]]
    moved: dict[str, list[int]] = {name: [] for name in split_ids}
    for ids in split_ids.values():
        for image_id in ids:
            moved[split_of[image_id]].append(image_id)
    return {name: sorted(ids) for name, ids in moved.items()}


def dataset_clusters(
    dataset: DetectionDataset, min_similarity: float = NEAR_SIMILARITY
) -> tuple[list[Signature], list[Cluster]]:
    """The `Signature` of each of ``dataset``'s images (in its records' order) and the clusters
    of copies among them (`find_clusters`, by pixels and by their files' source names)."""
    paths = [str(dataset.image_path(r)) for r in dataset.records]
    found = signatures(paths)
    sources = [source_name(Path(r.file_name).stem) for r in dataset.records]
    return found, find_clusters(found, sources, paths, min_similarity)


def grouped_with_copies(dataset: DetectionDataset, min_similarity: float = NEAR_SIMILARITY) -> DetectionDataset:
    """``dataset`` with each cluster of copies (`find_clusters`) made one group, merged with the
    groups its images already had (``data.dedupe=group``: detkit's splits then keep copies on one
    side). A merged group takes the name of its first image's group."""
    records = dataset.records
    _, clusters = dataset_clusters(dataset, min_similarity)
    chains = [np.stack([members[:-1], members[1:]]) for members in (np.array(c.members) for c in clusters)]
    chains.append(_same_name_pairs([r.group for r in records]))
    links = np.concatenate(chains, axis=1)
    graph = coo_matrix((np.ones(links.shape[1]), (links[0], links[1])), shape=(len(records), len(records)))
    _, component = connected_components(graph, directed=False)
    first_of: dict[int, str] = {}
    groups = [first_of.setdefault(int(c), record.group) for c, record in zip(component, records)]
    regrouped = [replace(r, group=g) if g != r.group else r for r, g in zip(records, groups)]
    return DetectionDataset(
        dataset.root, list(dataset.class_names), regrouped, list(dataset.category_ids), dict(dataset.given_splits)
    )
