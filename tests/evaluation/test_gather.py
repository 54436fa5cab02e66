"""Predictions gathered from every process: each image once, whichever rank holds it, also when a
DistributedSampler padded a rank's last batch with images another rank scored."""

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from detkit.evaluation.gather import broadcast_from_zero, gather_by_image

# two ranks as a DistributedSampler leaves 5 images on 2 processes: rank 1's last batch is
# padded with image 1 again, which rank 0 also predicted
SHARES = [{1: "one", 3: "three", 5: "five"}, {2: "two", 4: "four", 1: "one"}]


def _rank(rank: int, store_file: str, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=2)
    try:
        results[rank] = (gather_by_image(SHARES[rank]), broadcast_from_zero(f"from rank {rank}"))
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
def test_every_rank_gets_each_image_once(tmp_path):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_rank, args=(str(tmp_path / "store"), results), nprocs=2, join=True)
        gathered = dict(results)
    expected = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    assert gathered[0] == gathered[1] == (expected, "from rank 0")


def test_one_process_keeps_its_own():
    assert gather_by_image(SHARES[0]) == SHARES[0] and broadcast_from_zero(7) == 7
