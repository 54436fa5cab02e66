"""Datasets: the Record representation, format readers/writers, generators, splits."""

from detkit.data.records import DetectionDataset, Record

__all__ = ["DetectionDataset", "Record"]
