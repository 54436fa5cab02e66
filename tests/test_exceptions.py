"""Problems as a user reads them: a few one by one, many grouped by kind with a count, a fix once."""

import pytest

from detkit.exceptions import LISTED_WHOLE, DatasetError, describe_problems


@pytest.mark.parametrize("count", [LISTED_WHOLE + 1, 309, 5000])
def test_many_problems_of_one_kind_are_one_line_of_count_and_examples(count):
    problems = [f"labels/img{k}.txt: line {k + 1}: class 2 outside 0..1" for k in range(count)]
    message = describe_problems(problems)
    assert message.startswith(f"{count} problem(s), all of one kind:")
    assert f"{count} of this kind" in message and f"... and {count - 3} more of this kind" in message
    assert "img0.txt" in message and "img3.txt" not in message, "three examples, not the whole list"


def test_a_few_problems_are_listed_one_by_one_and_the_fix_said_once():
    problems = [f"images[{k}]: image not found at x/{k}.jpg" for k in range(LISTED_WHOLE)]
    message = str(DatasetError(problems, "export", fix="or read the rest: data.on_invalid=drop"))
    assert all(problem in message for problem in problems) and "of this kind" not in message
    assert message.count("data.on_invalid=drop") == 1 and message.endswith("data.on_invalid=drop")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_user_error_in_a_loader_worker_is_its_own_message(tmp_path, workers):
    """torch re-makes an error raised in a DataLoader worker with the worker's whole traceback
    as its message ("Caught DatasetError in DataLoader worker process 0 ..."): the tools' one
    line is the message the error had in the worker, the same as without workers."""
    import torch
    from PIL import Image

    from detkit.data.records import DetectionDataset, Record
    from detkit.data.torch_dataset import DetectionImages, collate_detections
    from detkit.exceptions import user_error_behind

    Image.new("RGB", (64, 64)).save(tmp_path / "a.jpg")
    whole = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(whole[: len(whole) // 2])
    images = DetectionImages(DetectionDataset(tmp_path, ["x"], [Record(1, "a.jpg", 64, 64)]))
    messages = {}
    for count in (0, workers):
        loader = torch.utils.data.DataLoader(images, num_workers=count, collate_fn=collate_detections)
        with pytest.raises(DatasetError) as raised:
            list(loader)
        messages[count] = str(user_error_behind(raised.value))
    assert "Caught" in str(raised.value), "torch wrapped it"
    assert messages[workers] == messages[0]
    assert messages[0].startswith(f"image 1: cannot read {tmp_path / 'a.jpg'}") and "Traceback" not in messages[0]
