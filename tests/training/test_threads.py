import multiprocessing
import time

import pytest

from detkit.training import threads
from detkit.training.threads import busy_cores, training_threads, usable_cores


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def test_a_core_kept_busy_elsewhere_is_seen_and_left_out(caplog):
    cores = usable_cores()
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,))
    spinner.start()
    try:
        time.sleep(0.5)
        assert busy_cores(cores) >= 1  # other load on the machine can only add to it
        with caplog.at_level("INFO", logger=threads.__name__):
            chosen = training_threads()
    finally:
        stop.set()
        spinner.join()
    assert chosen <= max(1, len(cores) - 1)
    if len(cores) > 1:
        assert "cores busy with other work" in caplog.text and "OMP_NUM_THREADS" in caplog.text


@pytest.mark.parametrize(
    ("cores", "busy", "processes", "expected"),
    [(2, 0, 1, 2), (2, 1, 1, 1), (2, 2, 1, 1), (16, 3, 1, 13), (16, 3, 4, 4), (2, 1, 2, 1)],
)
def test_threads_are_the_free_cores_shared_among_the_processes(monkeypatch, cores, busy, processes, expected):
    monkeypatch.setattr(threads, "usable_cores", lambda: list(range(cores)))
    monkeypatch.setattr(threads, "busy_cores", lambda _: busy)
    assert training_threads(processes) == expected
