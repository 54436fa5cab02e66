"""Splits: seeded, group-aware, stratified train / train_dev / dev / test and their manifests
(`seeded`), a dataset with its splits settled (`split_data`), and what each split holds (`report`)."""
