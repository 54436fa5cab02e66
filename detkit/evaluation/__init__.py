"""COCO evaluation and the gathering of predictions across processes."""
