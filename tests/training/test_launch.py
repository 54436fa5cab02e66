"""The run directory's stamp that every process of a launch agrees on."""

import re
from datetime import timedelta

import pytest
from torch.distributed import TCPStore

from detkit.training import launch
from tests.conftest import compose_config, free_port

LAUNCH_KEYS = ("WORLD_SIZE", "RANK", "TORCHELASTIC_USE_AGENT_STORE", "SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_STEP_ID")


@pytest.fixture
def clean_launch(monkeypatch):
    for key in LAUNCH_KEYS:
        monkeypatch.delenv(key, raising=False)
    launch.run_stamp.cache_clear()
    yield monkeypatch
    launch.run_stamp.cache_clear()


def test_one_process_is_stamped_with_the_time(clean_launch):
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", launch.run_stamp())


def test_a_slurm_job_of_several_tasks_is_named_by_job_and_step(clean_launch):
    clean_launch.setenv("SLURM_NTASKS", "16")
    clean_launch.setenv("SLURM_JOB_ID", "981")
    clean_launch.setenv("SLURM_STEP_ID", "2")
    assert launch.run_stamp() == "slurm-981.2"


def test_a_single_task_allocation_keeps_the_time(clean_launch):
    """Two runs in one interactive allocation (one task each) must not share a directory."""
    clean_launch.setenv("SLURM_NTASKS", "1")
    clean_launch.setenv("SLURM_JOB_ID", "981")
    assert launch.run_stamp() != "slurm-981"


def test_a_torchrun_worker_takes_rank_zeros_stamp_from_the_agent_store(clean_launch):
    port = free_port()
    agent = TCPStore("127.0.0.1", port, is_master=True, timeout=timedelta(seconds=10))
    agent.set("detkit/run_stamp/0", "2026-01-02_03-04-05")  # what rank 0 wrote, a second or more earlier
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "TORCHELASTIC_USE_AGENT_STORE": "True"}.items():
        clean_launch.setenv(key, value)
    clean_launch.setenv("MASTER_ADDR", "127.0.0.1")
    clean_launch.setenv("MASTER_PORT", str(port))
    assert launch.run_stamp() == launch.run_stamp() == "2026-01-02_03-04-05"


@pytest.mark.parametrize(
    ("root", "name"),
    [
        (None, "quickstart"),  # the generated data
        ("/data/bccd", "bccd"),
        ("/data/bccd/", "bccd"),
        ("x/coco128.yaml", "coco128"),
        ("x/road signs/data.yaml", "road_signs"),  # a generic file name: its folder's
        ("x/proj/annotations.xml", "proj"),
        ("C:\\exports\\ships\\", "C_exports_ships"),
        ("/", "export"),
    ],
)
def test_a_run_on_an_export_lands_in_a_folder_of_the_exports_name(root, name):
    assert launch.run_name(root) == name


def test_the_train_config_names_the_run_after_the_export():
    assert compose_config("train", ["data=auto", "data.root=/data/bccd"]).name == "bccd"
    assert compose_config("train").name == "quickstart"
    assert compose_config("train", ["data=auto", "data.root=/data/bccd", "name=mine"]).name == "mine"
