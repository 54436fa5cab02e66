"""The error family that tools turn into one clear message and exit code 2."""

from __future__ import annotations

MAX_LISTED_PROBLEMS = 20
SIGNAL_EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130}  # 128 + the signal's number


class DetkitError(Exception):
    """An error caused by the user's input (data or config), not by a bug in detkit."""


class DatasetError(DetkitError):
    """A dataset on disk cannot be used; the message names file, record and fix."""

    def __init__(self, problems: list[str] | str, source: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = self.problems[:MAX_LISTED_PROBLEMS]
        hidden = len(self.problems) - len(lines)
        if hidden > 0:
            lines.append(f"... and {hidden} more problem(s)")
        head = f"{source}: " if source else ""
        if len(lines) == 1:
            super().__init__(head + lines[0])
        else:
            super().__init__(head + f"{len(self.problems)} problem(s):\n  - " + "\n  - ".join(lines))


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
    """The `DetkitError` behind ``error``, also when Hydra's ``instantiate`` wrapped it."""
    while error is not None:
        if isinstance(error, DetkitError):
            return error
        error = error.__cause__
    return None
