"""The installed package states its licence and the version CHANGELOG.md describes."""

import importlib.metadata
import re
from pathlib import Path

import detkit

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_metadata_carries_the_licence_and_detkits_version():
    metadata = importlib.metadata.metadata("detkit")
    assert metadata["License-Expression"] == "Apache-2.0" and "LICENSE" in metadata.get_all("License-File")
    assert metadata["Version"] == detkit.__version__
    assert (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]


def test_the_changelog_leads_with_the_current_version():
    releases = re.findall(r"^## (\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == detkit.__version__, "a new version gets its CHANGELOG.md entry"
