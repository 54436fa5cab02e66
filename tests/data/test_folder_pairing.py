"""VOC annotations and their images in folders of any names, found by the stems they share:
sibling folders, folders one level down, and a clear choice when several pairings fit."""

import shutil

import pytest

from detkit.data.formats import load_export
from detkit.data.formats.exports import detect_format
from detkit.exceptions import DatasetError
from tests.exports import voc_export


@pytest.fixture(scope="module")
def voc(tmp_path_factory, tiny_shapes):
    return voc_export(tmp_path_factory.mktemp("voc") / "voc", tiny_shapes)


def _boxes(dataset):
    return sum(len(r.boxes) for r in dataset.records)


def _apart(voc, root, xml_folder, image_folder):
    """The VOC export's xml files in ``root/xml_folder``, its images in ``root/image_folder``
    (no Annotations/, JPEGImages/ or ImageSets/)."""
    shutil.copytree(voc / "Annotations", root / xml_folder)
    shutil.copytree(voc / "JPEGImages", root / image_folder)
    return root


@pytest.mark.parametrize(
    ("xml_folder", "image_folder"),
    [
        ("labels", "photos"),
        ("xml annotations", "Bilder ü"),
        ("dataset/xml", "dataset/img"),  # one level down
        ("anns", "data/photos"),  # at different depths
    ],
)
def test_xml_and_images_in_folders_of_any_name_are_paired_by_their_stems(voc, tmp_path, xml_folder, image_folder):
    root = _apart(voc, tmp_path / "export", xml_folder, image_folder)
    whole = load_export(voc, image_set=None)
    assert detect_format(root) == "voc"
    dataset = load_export(root)
    assert len(dataset) == len(whole) and _boxes(dataset) == _boxes(whole), "every image and box"
    assert dataset.root == root / image_folder


def test_several_pairings_are_listed_for_the_user_to_choose(voc, tmp_path):
    root = _apart(voc, tmp_path / "export", "a/xml", "a/images")
    _apart(voc, root, "b/xml", "b/images")
    with pytest.raises(DatasetError, match=r"several folders of VOC \.xml files") as refused:
        load_export(root)
    message = str(refused.value)
    assert f"data.root={root / 'a' / 'xml'} data.images={root / 'a' / 'images'}" in message
    assert f"data.root={root / 'b' / 'xml'} data.images={root / 'b' / 'images'}" in message


def test_xml_whose_stems_no_image_shares_is_not_taken_for_a_dataset(voc, tmp_path):
    root = _apart(voc, tmp_path / "export", "labels", "photos")
    for image in (root / "photos").iterdir():
        image.rename(image.with_name(f"renamed-{image.name}"))
    with pytest.raises(DatasetError, match=r"no dataset found.*data.root=<the annotation folder or file> data.images="):
        load_export(root)


def test_the_pairing_found_is_what_naming_both_folders_reads(voc, tmp_path):
    root = _apart(voc, tmp_path / "export", "labels", "photos")
    named = load_export(root / "labels", images=root / "photos")
    found = load_export(root)
    assert [r.file_name for r in named.records] == [r.file_name for r in found.records]
    assert _boxes(named) == _boxes(found)
