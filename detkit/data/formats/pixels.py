"""Every image of an export decoded once as it is read, so that a file whose header reads but
whose pixels do not (a truncated JPEG, a PNG with a broken stream) is a problem of the reading,
named before anything trains on it, and not a crash in a loader worker hours later.

Readers check only headers (sizes, for thousands of files a second); this decodes each image at
reduced scale through `detkit.data.images.signatures`, whose signatures the health check uses
too and which are kept between runs while a file is unchanged: the decoding is paid once.
"""

from __future__ import annotations

from dataclasses import replace

from detkit.data.formats.problems import settle_problems
from detkit.data.images import signatures as image_signatures
from detkit.data.records import DetectionDataset


def undecodable_images(dataset: DetectionDataset) -> list[tuple[int, str]]:
    """``(image id, why)`` of each image of ``dataset`` whose pixels cannot be decoded."""
    paths = [str(dataset.image_path(record)) for record in dataset.records]
    found = image_signatures.signatures(paths)
    return [(record.image_id, s.error) for record, s in zip(dataset.records, found, strict=True) if s.error]


def settle_undecodable(dataset: DetectionDataset, source: str, on_invalid: str) -> DetectionDataset:
    """``dataset`` when every image decodes; otherwise one `DatasetError` naming each image that
    does not (``on_invalid="error"``), or the dataset without them and a warning (``"drop"``)."""
    broken = dict(undecodable_images(dataset))
    if not broken:
        return dataset
    records = {record.image_id: record for record in dataset.records}
    problems = [
        f"{records[image_id].file_name}: the image cannot be decoded ({why}); re-export or replace the file"
        for image_id, why in broken.items()
    ]
    settle_problems(problems, source, on_invalid, [len(records[image_id].boxes) for image_id in broken])
    kept = [record for record in dataset.records if record.image_id not in broken]
    given = {split: [i for i in ids if i not in broken] for split, ids in dataset.given_splits.items()}
    return replace(dataset, records=kept, given_splits=given)
