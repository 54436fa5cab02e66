"""Reports that turn evaluations into decisions: comparisons, diagnoses, error breakdowns."""
