"""Seeded train / train_dev / dev / test splits: group-aware, stratified, distribution-aware.

- Group-aware: a group (``Record.group``, or a regex over file names) is never in two splits.
- Stratified over class presence (and domain) with iterative stratification (Sechidis et al.,
  2011) applied to groups: the rarest class is placed first, each of its groups into the split
  that still needs that class most, so each class's share per split is close to the requested
  ratio, and each split mirrors the domain mix of the pool it is drawn from.
- Distribution-aware (the strategy notes' recipe): ``dev_test_from=<domain>`` draws dev and
  test only from that domain, puts ``target_in_train`` of it into training, and carves
  train_dev out of the training distribution, which it is never trained on.

Hand-written because the library that implements iterative stratification (scikit-multilearn)
works on single samples and has no notion of groups or domains.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data.records import DetectionDataset, Record
from detkit.exceptions import ConfigError, DatasetError
from detkit.files import write_json_atomic

SPLITS = ("train", "train_dev", "dev", "test")
SPLIT_MODES = ("auto", "given", "resplit")  # data.splits: the export's own splits, or pooled and split anew
NO_GROUPS = np.zeros(0, dtype=np.int64)
EVALUATED = ("dev", "test")  # the splits that score: each class should reach them where the data allows
DONORS = ("train_dev", "train", "test", "dev")  # which split gives a group first, among those holding as many
log = logging.getLogger(__name__)


@dataclass
class _Groups:
    """The groups of a dataset's records as arrays: group ``g`` holds the images
    ``image_ids[starts[g]:starts[g + 1]]`` (in the dataset's order)."""

    keys: list[str]
    strata: np.ndarray  # [G, C + D] images of each group in which each class appears, then per domain
    domains: list[str]  # each group's domain
    image_ids: np.ndarray
    starts: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def image_ids_of(self, chosen: np.ndarray) -> list[int]:
        """The image ids of the groups ``chosen`` (indices), sorted."""
        taken = np.zeros(len(self.keys), dtype=bool)
        taken[chosen] = True
        return np.sort(self.image_ids[np.repeat(taken, self.sizes)]).tolist()


def split_dataset(
    dataset: DetectionDataset,
    fractions: dict[str, float],
    seed: int = 0,
    group_regex: str | None = None,
    dev_test_from: str | None = None,
    target_in_train: float = 0.5,
) -> dict[str, list[int]]:
    """Image ids per split (each sorted), for every split named in ``fractions``."""
    fractions = _check_fractions(fractions)
    groups = group_records(dataset, group_regex)
    rng = np.random.default_rng(seed)
    if dev_test_from is None:
        assigned = _stratify(groups, np.arange(len(groups.keys)), fractions, rng)
    else:
        assigned = _split_towards_domain(groups, fractions, dev_test_from, target_in_train, rng)
    evaluated = [s for s in EVALUATED if fractions.get(s, 0) > 0]
    _cover_classes(groups, assigned, dataset.class_names, evaluated, dev_test_from)
    return {name: groups.image_ids_of(assigned.get(name, NO_GROUPS)) for name in fractions}


def _cover_classes(
    groups: _Groups, assigned: dict[str, np.ndarray], class_names: list[str], into: list[str], domain: str | None
) -> None:
    """Give train and each split of ``into`` (dev, test) a group holding each class, where
    another split can spare one (`_movable_group`; into dev and test, of ``domain`` alone when
    they come from it): on small data, stratification by shares can round a class of a few
    groups out of train or dev, and a class missing from dev is never scored. Rarest class
    first; what moved is said in one line."""
    holds = groups.strata[:, : len(class_names)] > 0
    moved = []
    for c in np.argsort(holds.sum(axis=0), kind="stable").tolist():
        for split in [s for s in ("train", *into) if s in assigned]:
            if not holds[assigned[split], c].any() and (
                found := _movable_group(groups, assigned, holds, c, split, domain)
            ):
                donor, group = found
                assigned[donor] = assigned[donor][assigned[donor] != group]
                assigned[split] = np.append(assigned[split], group)
                moved.append(f"{class_names[c]!r} {donor} -> {split}")
    if moved:
        log.info(
            "split: %d group(s) moved so that every class is trained on and scored where it has the groups (%s; "
            "with so few, its AP is noise)",
            len(moved),
            ", ".join(moved),
        )


def _movable_group(
    groups: _Groups, assigned: dict[str, np.ndarray], holds: np.ndarray, c: int, split: str, domain: str | None
) -> tuple[str, int] | None:
    """``(donor split, group)``: the smallest group of class ``c`` that another split can give to
    ``split`` keeping another group, and for each class the group holds another group of it
    (train_dev, which only measures variance, may give any of its classes); donors tried by how
    many groups of ``c`` they hold, then `DONORS` order. None if none can."""
    donors = {s: [g for g in members.tolist() if holds[g, c]] for s, members in assigned.items() if s != split}
    for donor in sorted(donors, key=lambda s: (-len(donors[s]), DONORS.index(s))):
        if len(assigned[donor]) < 2:  # a split is never emptied
            continue
        counts = holds[assigned[donor]].sum(axis=0)
        movable = [
            g
            for g in donors[donor]
            if (split == "train" or domain is None or groups.domains[g] == domain)
            and (donor == "train_dev" or (counts[holds[g]] > 1).all())
        ]
        if movable:
            return donor, min(movable, key=lambda g: (groups.sizes[g], g))
    return None


def resolve_split_mode(dataset: DetectionDataset, mode: str) -> str:
    """``given`` (the export's own splits) or ``resplit`` for ``data.splits=mode``; ``auto`` is
    ``given`` when the export has splits of its own."""
    if mode not in SPLIT_MODES:
        raise ConfigError(f"data.splits={mode!r}; choose one of {list(SPLIT_MODES)}")
    if mode == "given" and not dataset.given_splits:
        raise ConfigError("data.splits=given, but this export has no splits of its own; use data.splits=resplit")
    return "given" if mode == "given" or (mode == "auto" and dataset.given_splits) else "resplit"


def make_splits(
    dataset: DetectionDataset, mode: str, split: dict[str, Any], seed: int
) -> tuple[str, dict[str, list[int]]]:
    """How ``data.splits=mode`` splits ``dataset`` (`resolve_split_mode`) and the splits it
    makes with the ``split`` options: the export's own (`split_given`) or new ones (`split_dataset`)."""
    mode = resolve_split_mode(dataset, mode)
    make = split_given if mode == "given" else split_dataset
    splits = make(dataset, seed=seed, **split)
    _refuse_empty_splits(dataset, splits, split.get("fractions", {}), split.get("group_regex"))
    return mode, splits


def _refuse_empty_splits(
    dataset: DetectionDataset, splits: dict[str, list[int]], fractions: dict[str, float], group_regex: str | None
) -> None:
    """A `DatasetError` for each split asked for (a fraction above 0) that holds no image:
    nothing to train on or to score (the export's own splits hold an image: `require_images`).
    The message counts the groups as the split made them (``group_regex``, else the records')."""
    empty = [name for name, ids in splits.items() if not ids and fractions.get(name, 0) > 0]
    if not empty:
        return
    groups = len(group_records(dataset, group_regex).keys)
    raise DatasetError(
        f"split(s) {', '.join(empty)} would hold no image: {len(dataset)} image(s) in {groups} group(s) (a group, "
        "the images of one source or copies of one image, is never split across sets); give more images, set "
        + " ".join(f"data.module.split.fractions.{name}=0" for name in empty)
        + " and the others to sum to 1 to go without them, or split the groups finer "
        "(data.module.split.group_regex, data.dedupe=none)"
    )


def split_given(
    dataset: DetectionDataset,
    fractions: dict[str, float],
    seed: int = 0,
    group_regex: str | None = None,
    dev_test_from: str | None = None,
    **_: Any,
) -> dict[str, list[int]]:
    """The export's own splits (`DetectionDataset.given_splits`): its dev and test as they are,
    and from its train the splits it lacks (train_dev, and dev when it has none) carved
    group-aware and stratified with their ``fractions``, the rest staying train."""
    given = dataset.given_splits
    unknown = sorted(set(given) - {"train", "dev", "test"})
    if unknown or "train" not in given:
        raise DatasetError(f"the export's splits {sorted(given)} need a train split and may add dev and test")
    if dev_test_from is not None:
        raise ConfigError("dev_test_from re-splits the data by domain; with it, set data.splits=resplit")
    seen: dict[int, str] = {}
    for name, ids in given.items():
        twice = [i for i in ids if seen.setdefault(i, name) != name]
        if twice:
            raise DatasetError(
                f"{len(twice)} image(s) are in both the export's {seen[twice[0]]} and {name} splits "
                f"(e.g. image ids {twice[:5]}); fix the export's lists, or pool and re-split with data.splits=resplit"
            )
    fractions = _check_fractions(fractions)
    carve = {s: f for s, f in fractions.items() if s in ("train", "train_dev") or (s == "dev" and s not in given)}
    carved = split_dataset(dataset.subset(given["train"]), _normalised(carve), seed, group_regex)
    splits = {**carved, **{s: sorted(ids) for s, ids in given.items() if s != "train"}}
    return {name: splits[name] for name in SPLITS if name in splits}


def _normalised(fractions: dict[str, float]) -> dict[str, float]:
    total = sum(fractions.values())
    return {s: f / total for s, f in fractions.items()} if total > 0 else {"train": 1.0}


def _check_fractions(fractions: dict[str, float]) -> dict[str, float]:
    fractions = {str(k): float(v) for k, v in dict(fractions).items()}
    unknown = [k for k in fractions if k not in SPLITS]
    if unknown or not fractions:
        raise ConfigError(f"split fractions name unknown splits {unknown}; use {list(SPLITS)}")
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ConfigError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    return fractions


def group_records(dataset: DetectionDataset, group_regex: str | None = None) -> _Groups:
    """The dataset's groups, from ``Record.group`` or, with ``group_regex``, from file names
    (the first capture group if the pattern has one, else the whole match). Each group's
    strata are counted with numpy over all records at once (a ``np.unique`` per record was
    most of splitting COCO's 118,287 images)."""
    pattern = re.compile(group_regex) if group_regex else None
    records = dataset.records
    if not records:
        return _Groups([], np.zeros((0, dataset.num_classes)), [], NO_GROUPS, np.zeros(1, dtype=np.int64))
    names, group_of = _sorted_codes([group_key(record, pattern) for record in records])
    domains, domain_of = _sorted_codes([r.domain for r in records])
    classes, count = dataset.num_classes, len(names)
    strata = np.zeros((count, classes + len(domains)), dtype=np.int64)
    sizes = np.fromiter((len(r.labels) for r in records), dtype=np.int64, count=len(records))
    labels = np.concatenate([r.labels for r in records])
    record_of = np.repeat(np.arange(len(records)), sizes)
    present = np.sort(record_of * classes + labels)  # each class once per image (np.unique's hash took 0.6 s)
    present = present[np.r_[True, present[1:] != present[:-1]]] if len(present) else present
    np.add.at(strata, (group_of[present // classes], present % classes), 1)
    np.add.at(strata, (group_of, classes + domain_of), 1)
    # a group's domain: its most common, ties to the one met first (as Counter.most_common)
    first_met = np.full((count, len(domains)), len(records))
    np.minimum.at(first_met, (group_of, domain_of), np.arange(len(records)))
    votes = strata[:, classes:]
    tied_best = votes == votes.max(axis=1, keepdims=True)
    domain = np.where(tied_best, first_met, len(records) + 1).argmin(axis=1)
    order = np.argsort(group_of, kind="stable")  # each group's images in the dataset's order
    starts = np.searchsorted(group_of[order], np.arange(count + 1))
    image_ids = np.array([r.image_id for r in records], dtype=np.int64)[order]
    return _Groups(names, strata, [domains[d] for d in domain.tolist()], image_ids, starts)


def _sorted_codes(values: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct ``values`` sorted, and each value's position among them (``np.unique``
    with ``return_inverse``, through a dict: numpy's object sort took 0.3 s at 40,000 names)."""
    first_seen: dict[str, int] = {}
    seen_as = np.fromiter(
        (first_seen.setdefault(v, len(first_seen)) for v in values), dtype=np.int64, count=len(values)
    )
    names = sorted(first_seen)
    rank = np.empty(len(names), dtype=np.int64)
    rank[[first_seen[name] for name in names]] = np.arange(len(names))
    return names, rank[seen_as]


def group_key(record: Record, pattern: re.Pattern[str] | None) -> str:
    """The group a record splits with: its own, or what ``pattern`` finds in its file name."""
    if pattern is None:
        return record.group
    match = pattern.search(record.file_name)
    if match is None:
        raise ConfigError(f"group_regex {pattern.pattern!r} does not match file name {record.file_name!r}")
    return match.group(1) if pattern.groups else match.group(0)


def _split_towards_domain(
    groups: _Groups, fractions: dict[str, float], domain: str, target_in_train: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    if not 0 <= target_in_train < 1:
        raise ConfigError(f"target_in_train must be in [0, 1), got {target_in_train}")
    in_domain = np.array([d == domain for d in groups.domains], dtype=bool)
    if not in_domain.any():
        raise ConfigError(f"dev_test_from={domain!r}: no images of that domain; domains: {sorted(set(groups.domains))}")
    evaluate = fractions.get("dev", 0) + fractions.get("test", 0)
    share = {"train": target_in_train}
    if evaluate > 0:
        share.update({s: (1 - target_in_train) * fractions.get(s, 0) / evaluate for s in ("dev", "test")})
    from_target = _stratify(groups, np.flatnonzero(in_domain), share, rng)
    training = np.concatenate([np.flatnonzero(~in_domain), from_target.get("train", NO_GROUPS)])
    learn = fractions.get("train", 0) + fractions.get("train_dev", 0)
    carve = {s: fractions.get(s, 0) / learn for s in ("train", "train_dev")} if learn > 0 else {"train": 1.0}
    result = {s: g for s, g in from_target.items() if s != "train"}  # target's train part is in `training`
    result.update(_stratify(groups, training, carve, rng))
    return result


def _stratify(
    groups: _Groups, members: np.ndarray, ratios: dict[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Iterative stratification of the groups ``members`` (indices) over class strata and
    domain, then image count: the members of each split, in the order they were placed. The
    rarest stratum left is placed first, each of its groups into the split that needs it most
    (`_choose_splits`)."""
    names = [s for s, r in ratios.items() if r > 0]
    if not len(members) or not names:
        return {}
    ratio = np.array([ratios[s] for s in names])
    strata, sizes = groups.strata[members], groups.sizes[members]
    wanted = ratio[:, None] * strata.sum(axis=0)[None, :]  # [S, K] what each split should end up with
    wanted_size = (ratio * sizes.sum()).tolist()
    placed = np.zeros((len(names), strata.shape[1]), dtype=np.int64)  # counts: sums that do not round
    placed_size = [0] * len(names)
    choice = np.empty(len(members), dtype=np.int64)
    remaining = rng.permutation(len(members))
    left = strata.sum(axis=0)  # the strata of the groups remaining
    batches = []
    while len(remaining):
        if left.any():
            rarest = int(np.argmin(np.where(left > 0, left, np.iinfo(np.int64).max)))
            has_rarest = strata[remaining, rarest] > 0
            batch = remaining[has_rarest]
            wants, have, counts = wanted[:, rarest].tolist(), placed[:, rarest].tolist(), strata[batch, rarest].tolist()
        else:  # groups without objects: by image count alone
            has_rarest = np.ones(len(remaining), dtype=bool)
            batch = remaining
            wants, have, counts = wanted_size, placed_size, [0] * len(batch)
        chosen = _choose_splits(wants, have, counts, wanted_size, placed_size, sizes[batch].tolist())
        choice[batch] = chosen
        batches.append(batch)
        taken = strata[batch]
        for split in range(len(names)):  # the other strata matter to later batches only
            placed[split] += taken[chosen == split].sum(axis=0)
        left -= taken.sum(axis=0)
        remaining = remaining[~has_rarest]
    placed_in_turn = np.concatenate(batches)
    return {name: members[placed_in_turn[choice[placed_in_turn] == split]] for split, name in enumerate(names)}


def _choose_splits(
    wanted: list[float],
    placed: list[int],
    counts: list[int],
    wanted_size: list[float],
    placed_size: list[int],
    sizes: list[int],
) -> np.ndarray:
    """The split of each group in turn: the one that needs the stratum most (``wanted`` less
    ``placed``, which each group's count then adds to), ties to the one short of most images
    (``wanted_size`` less ``placed_size``), then the first. Needs are one subtraction from
    whole counts, so equal needs are equal. Plain Python on these few splits: numpy's
    per-call cost was most of the loop."""
    bests = []
    for count, size in zip(counts, sizes):
        needs = [want - have for want, have in zip(wanted, placed)]
        most = max(needs)
        ties = [split for split, need in enumerate(needs) if need == most]
        best = ties[0] if len(ties) == 1 else max(ties, key=lambda k: wanted_size[k] - placed_size[k])
        placed[best] += count
        placed_size[best] += size
        bests.append(best)
    return np.array(bests, dtype=np.int64)


def dataset_fingerprint(dataset: DetectionDataset) -> str:
    """A hash of the dataset's content (images, boxes, labels, classes), to tie manifests to it."""
    digest = hashlib.sha256(json.dumps(dataset.class_names).encode())
    for r in sorted(dataset.records, key=lambda r: r.image_id):
        digest.update(f"{r.image_id}|{r.file_name}|{r.group}|{r.domain}|".encode())
        digest.update(r.boxes.tobytes() + r.labels.tobytes())
    return digest.hexdigest()[:16]


def write_manifests(
    directory: str | Path, splits: dict[str, list[int]], dataset: DetectionDataset, meta: dict[str, Any]
) -> None:
    """One ``<split>.json`` per split: its image ids, the dataset's fingerprint and how it was made."""
    fingerprint = dataset_fingerprint(dataset)
    for name, ids in splits.items():
        manifest = {"split": name, "dataset": fingerprint, **meta, "image_ids": ids}
        write_json_atomic(Path(directory) / f"{name}.json", manifest, indent=None)


def read_manifest(path: str | Path, dataset: DetectionDataset) -> list[int]:
    """The image ids of a manifest, refusing one made from different data."""
    return _read_checked(Path(path), dataset_fingerprint(dataset))


def read_manifests(directory: str | Path, dataset: DetectionDataset) -> dict[str, list[int]]:
    """The manifests of `SPLITS` present in ``directory`` (other files, such as the split report,
    are not manifests), each checked against ``dataset``."""
    paths = [Path(directory) / f"{name}.json" for name in SPLITS]
    if not any(path.is_file() for path in paths):
        raise DatasetError(
            f"no split manifests ({', '.join(SPLITS)}.json) here; run tools/split.py", source=str(directory)
        )
    fingerprint = dataset_fingerprint(dataset)  # hashes every box: once, not once per manifest
    known = {record.image_id for record in dataset.records}
    manifests, split_of = {}, {}
    for path in (p for p in paths if p.is_file()):
        manifests[path.stem] = ids = _read_checked(path, fingerprint)
        unknown = [i for i in ids if i not in known]
        again = [i for i in ids if split_of.setdefault(i, path.stem) != path.stem]
        if unknown or len(set(ids)) < len(ids) or again:
            wrong = (
                f"image ids {unknown[:5]} are not in the data"
                if unknown
                else f"image {again[0]} is also in {split_of[again[0]]}.json"
                if again
                else "an image id is listed twice"
            )
            raise DatasetError(f"{wrong}; make the splits again (tools/split.py, or train a new run)", source=str(path))
    return manifests


def _read_checked(path: Path, fingerprint: str) -> list[int]:
    if not path.is_file():
        raise DatasetError("split manifest not found; make splits first or fix data.splits_dir", source=str(path))
    from detkit.data.formats.fields import is_whole, parse_json, read_text  # formats imports this module

    try:
        manifest = parse_json(read_text(path), str(path))
    except ValueError as error:  # not JSON, not UTF-8, nested too deep
        raise DatasetError(f"not a split manifest ({error}); make splits again", source=str(path)) from None
    ids = manifest.get("image_ids") if isinstance(manifest, dict) else None
    if not (isinstance(ids, list) and all(is_whole(i) for i in ids)):
        raise DatasetError(
            "not a split manifest (a json with 'image_ids' of whole numbers); make splits again", str(path)
        )
    if manifest.get("dataset") != fingerprint:
        raise DatasetError("this manifest was made from different data; make the splits again", source=str(path))
    return list(manifest["image_ids"])
