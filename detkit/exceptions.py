"""The error family that tools turn into one clear message and exit code 2."""

from __future__ import annotations

import re

MAX_LISTED_PROBLEMS = 20
EXAMPLES_PER_KIND = 3
LISTED_WHOLE = 5  # this many problems or fewer are listed one by one, more are grouped by kind
SIGNAL_EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130}  # 128 + the signal's number


class DetkitError(Exception):
    """An error caused by the user's input (data or config), not by a bug in detkit."""


class DatasetError(DetkitError):
    """A dataset on disk cannot be used; the message names file, record and fix."""

    def __init__(self, problems: list[str] | str, source: str | None = None, fix: str = ""):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        head = f"{source}: " if source else ""
        tail = f"\n{fix}" if fix and len(self.problems) > 1 else f"; {fix}" if fix else ""
        if len(self.problems) == 1:
            super().__init__(head + self.problems[0] + tail)
        else:
            super().__init__(head + describe_problems(self.problems) + tail)


def describe_problems(problems: list[str]) -> str:
    """``N problem(s)`` and the problems: up to `LISTED_WHOLE` one by one, more grouped by
    kind (each kind with its count and first examples, so that no kind hides behind a numerous
    one and 300 problems of one kind read as one line of count and three examples)."""
    if len(problems) <= LISTED_WHOLE:
        return f"{len(problems)} problem(s):\n  - " + "\n  - ".join(problems)
    kinds: dict[str, list[str]] = {}
    for problem in problems:
        kinds.setdefault(problem_kind(problem), []).append(problem)
    lines = []
    for examples in list(kinds.values())[:MAX_LISTED_PROBLEMS]:
        if len(examples) == 1:
            lines.append(examples[0])
            continue
        more = len(examples) - EXAMPLES_PER_KIND
        lines.append(f"{len(examples)} of this kind: " + "\n      ".join(examples[:EXAMPLES_PER_KIND]))
        lines[-1] += f"\n      ... and {more} more of this kind" if more > 0 else ""
    if len(kinds) > MAX_LISTED_PROBLEMS:
        lines.append(f"... and {len(kinds) - MAX_LISTED_PROBLEMS} more kind(s)")
    of_kinds = f" of {len(kinds)} kinds" if len(kinds) > 1 else ", all of one kind"
    return f"{len(problems)} problem(s){of_kinds}:\n  - " + "\n  - ".join(lines)


def problem_kind(problem: str) -> str:
    """What a problem says with its particulars left out (paths, quoted values, numbers)."""
    kind = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", problem)
    kind = re.sub(r"\S*/\S*", "<path>", kind)
    return re.sub(r"\d+(\.\d+)?", "#", kind)


class ConfigError(DetkitError):
    """A config value is impossible; the message names the key and what would be valid."""


class TrainingError(DetkitError):
    """Training cannot go on (a non-finite loss); the message says where it stopped and what to change."""


class TrainingInterrupted(DetkitError):
    """Training stopped by a signal; the message says where the run can continue from. Tools
    exit with ``128 + signal`` (143 for SIGTERM, 130 for SIGINT), as a shell reports a process
    the signal ended."""

    def __init__(self, signal_name: str, where_to_continue: str):
        self.exit_code = SIGNAL_EXIT_CODES.get(signal_name, 1)
        super().__init__(f"training interrupted by {signal_name} {where_to_continue}")


def user_error_behind(error: BaseException | None) -> DetkitError | None:
    """The `DetkitError` behind ``error``, also when Hydra's ``instantiate`` wrapped it or a
    DataLoader worker raised it."""
    while error is not None:
        if isinstance(error, DetkitError):
            return _unwrapped(error)
        error = error.__cause__
    return None


WORKER_WRAPPED = re.compile(r"Caught \w+ in .*\nOriginal Traceback \(most recent call last\):\n")


def _unwrapped(error: DetkitError) -> DetkitError:
    """``error`` with its own message, where torch re-made it in the main process with the
    worker's whole traceback as its message (``torch._utils.ExceptionWrapper``: "Caught
    DatasetError in DataLoader worker process 0. Original Traceback ..."): the original
    message is what the traceback's last entry says after the exception's name."""
    text = str(error)
    marker = f"{type(error).__module__}.{type(error).__qualname__}: "
    at = text.rfind(marker)
    if not WORKER_WRAPPED.match(text) or at < 0:
        return error
    unwrapped = type(error).__new__(type(error))
    Exception.__init__(unwrapped, text[at + len(marker) :].rstrip("\n"))
    unwrapped.__dict__.update(error.__dict__)
    return unwrapped
