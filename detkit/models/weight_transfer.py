"""Starting a detector from another one's weights when the class sets differ.

Every tensor that does not depend on the classes is copied as is. The class-scoring tensors
(and Faster R-CNN's per-class box regression) keep their fresh initialisation, except the
rows of the classes both models share (same name, or mapped by ``class_map``), which are
copied. Outputs are named as the model counts them: index 0 is ``BACKGROUND``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from detkit.exceptions import ConfigError
from detkit.models.families import family_of

BACKGROUND = "__background__"
log = logging.getLogger(__name__)


def class_tensors(model: nn.Module) -> dict[str, int]:
    """The state-dict keys whose first dimension runs over the model's outputs, each with how
    many blocks of outputs it holds (anchors per location; 1 for one output per class): its
    family's (`detkit.models.families`)."""
    return family_of(model).class_tensors(model)


def output_mapping(
    source_outputs: Sequence[str], target_outputs: Sequence[str], class_map: Mapping[str, str] | None = None
) -> dict[int, int]:
    """Target output index -> source output index for every class the two share; a target class
    is looked up under ``class_map[name]`` when mapped, else under its own name."""
    class_map = dict(class_map or {})
    ours = [name for name in class_map if name not in target_outputs]
    theirs = [name for name in class_map.values() if name not in source_outputs]
    if ours or theirs:
        raise ConfigError(
            f"init.class_map maps data classes to initial-weights classes; not among the data's "
            f"{list(target_outputs[1:])}: {ours}; not among the initial weights' "
            f"{[s for s in source_outputs if s != BACKGROUND][:20]}: {theirs}"
        )
    index = {name: i for i, name in reversed(list(enumerate(source_outputs)))}  # first of repeated names
    return {
        t: index[class_map.get(name, name)]
        for t, name in enumerate(target_outputs)
        if class_map.get(name, name) in index
    }


def shared_classes(mapping: Mapping[int, int], target_outputs: Sequence[str]) -> list[str]:
    """The target classes an `output_mapping` carries over (background aside)."""
    return [target_outputs[t] for t in sorted(mapping) if t > 0]


def carry_rows(fresh: Tensor, source: Tensor, blocks: int, mapping: Mapping[int, int], num_source: int) -> Tensor:
    """``fresh`` (for the target's outputs) with the rows of mapped outputs taken from ``source``
    (for ``num_source`` outputs); within a block, each output may own several rows (box deltas)."""
    rows_per_output = source.shape[0] // blocks // num_source
    target = fresh.detach().clone().reshape(blocks, -1, rows_per_output, *fresh.shape[1:])
    origin = source.reshape(blocks, num_source, rows_per_output, *source.shape[1:])
    for t, s in mapping.items():
        target[:, t] = origin[:, s]
    return target.reshape(fresh.shape)


def transfer_state(
    model: nn.Module,
    source_state: Mapping[str, Tensor],
    source_outputs: Sequence[str],
    target_outputs: Sequence[str],
    class_map: Mapping[str, str] | None = None,
) -> list[str]:
    """Load ``source_state`` (a detector state dict for ``source_outputs``) into ``model`` (built
    for ``target_outputs``): all class-independent tensors, and for the class tensors the rows
    of the shared classes. Returns the target classes whose rows were carried over.

    Tensors that are missing, extra or shaped differently outside the class tensors mean another
    architecture: a ConfigError names them. Batch norm's ``num_batches_tracked`` may be absent
    (torchvision's frozen batch norm has none).
    """
    class_keys = class_tensors(model)
    _check_same_architecture(model.state_dict(), source_state, set(class_keys))
    model.load_state_dict({k: v for k, v in source_state.items() if k not in class_keys}, strict=False)
    return carry_class_rows(model, source_state, source_outputs, target_outputs, class_map)


def carry_class_rows(
    model: nn.Module,
    source_state: Mapping[str, Tensor],
    source_outputs: Sequence[str],
    target_outputs: Sequence[str],
    class_map: Mapping[str, str] | None = None,
) -> list[str]:
    """Copy into ``model``'s class tensors the rows of the classes it shares with
    ``source_state`` (only its class tensors are read); returns those classes."""
    state = model.state_dict()
    mapping = output_mapping(source_outputs, target_outputs, class_map)
    rows = {
        key: carry_rows(state[key], source_state[key], blocks, mapping, len(source_outputs))
        for key, blocks in class_tensors(model).items()
    }
    model.load_state_dict(rows, strict=False)
    carried = shared_classes(mapping, target_outputs)
    log.info("classes carried over: %s; new: %s", carried, [n for n in target_outputs[1:] if n not in carried])
    return carried


def _check_same_architecture(state: Mapping[str, Tensor], source: Mapping[str, Tensor], class_keys: set[str]) -> None:
    optional = [key for key in state if key.endswith("num_batches_tracked")]
    missing = [key for key in state if key not in source and key not in optional]
    extra = [key for key in source if key not in state and not key.endswith("num_batches_tracked")]
    differ = [
        f"{key} {tuple(source[key].shape)} vs {tuple(state[key].shape)}"
        for key in state
        if key in source and key not in class_keys and source[key].shape != state[key].shape
    ]
    if missing or extra or differ:
        raise ConfigError(
            "the initial weights are of another architecture than model.name: "
            f"{len(missing)} tensors missing (e.g. {missing[:4]}), {len(extra)} unexpected (e.g. {extra[:4]}), "
            f"{len(differ)} shaped differently (checkpoint vs model, e.g. {differ[:4]}); "
            "use the model the checkpoint was trained with"
        )
