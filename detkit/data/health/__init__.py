"""The data's health before training: what each split holds, copies within and across splits,
the shift between splits, and how large the objects are at the model's input."""
