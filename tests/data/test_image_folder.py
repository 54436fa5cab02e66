"""Images to predict on matched to a COCO file's image ids: by the whole path, or by the file's
name where that name is the annotations' only one; never two images to one id."""

import pytest

from detkit.data.images.folder import ids_by_file_name
from detkit.exceptions import DatasetError

COCO = {
    "images": [
        {"id": 1, "file_name": "day/cam1/0001.jpg"},
        {"id": 2, "file_name": "night/cam1/0001.jpg"},
        {"id": 3, "file_name": "day/cam2/0007.jpg"},
    ]
}


def test_whole_paths_match_first_and_unique_names_alone():
    names = ["day/cam1/0001.jpg", "night/cam1/0001.jpg", "0007.jpg"]
    assert ids_by_file_name(COCO, names, "gt.json") == {names[0]: 1, names[1]: 2, "0007.jpg": 3}


def test_a_name_the_annotations_hold_twice_is_not_guessed():
    """Two annotated images share 0001.jpg: a folder holding only the name cannot tell which."""
    with pytest.raises(DatasetError, match=r"0001\.jpg.*2 images in its 'images'.*day/cam1/0001\.jpg"):
        ids_by_file_name(COCO, ["cam1/0001.jpg"], "gt.json")


def test_two_images_are_never_given_one_id():
    """Same-named images in different folders, one annotation: both would take its id."""
    with pytest.raises(DatasetError, match=r"a/0007\.jpg and b/0007\.jpg would both be image 3"):
        ids_by_file_name(COCO, ["a/0007.jpg", "b/0007.jpg"], "gt.json")


def test_images_the_annotations_do_not_list_are_named():
    with pytest.raises(DatasetError, match=r"1 images are not in its 'images'.*other\.jpg"):
        ids_by_file_name(COCO, ["day/cam1/0001.jpg", "other.jpg"], "gt.json")
