"""Labels as class indices, and which class is the positive one.

The train stage and the evaluation both turn a target column into indices of a model's classes
and pick the positive class the same way: ``pos_label`` when it is set, else the class that sorts
last (scikit-learn's convention), so both stages measure recall of the same class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import AssayError

if TYPE_CHECKING:
    import numpy as np


def same_class(a: Any, b: Any) -> bool:
    """True when class label ``a`` (a model's, possibly a NumPy scalar) and ``b`` (written in a
    config, or sent as JSON) name the same class: equal values (1 == 1.0 == True), or equal
    text (``"1"`` and 1). The one rule for ``pos_label``, the server's live scoring of feedback
    labels and monitoring's realised quality."""
    plain = a.item() if hasattr(a, "item") else a
    return bool(plain == b) or str(plain) == str(b)


def check_pos_label(value: Any) -> Any:
    """A ``pos_label`` option as written: one class label (text, number or boolean) or None.

    Raises:
        ValueError: a list, mapping or other non-label value (option validators report it with
            the assay.yaml line).
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError("pos_label must be one class label (text, a number or true/false)")


def positive_class_index(
    classes: list[Any], pos_label: Any, *, error: type[AssayError], where: str
) -> int:
    """The index of the positive class among a binary model's ``classes``.

    Args:
        classes: the model's classes, in its column order.
        pos_label: the configured positive class, or None for the class that sorts last.
        error: the error family to raise (the caller's concept).
        where: the option's place, for the message (``evaluate.pos_label``).

    Raises:
        AssayError (of type ``error``): ``pos_label`` is not one of the classes.
    """
    if pos_label is None:
        return len(classes) - 1
    for index, value in enumerate(classes):
        if same_class(value, pos_label):
            return index
    shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes)
    raise error(
        f"{where}: {pos_label!r} is not a class of the target (classes: {shown}); "
        "set pos_label to one of them",
        pos_label=pos_label,
    )


def class_indices(
    target: np.ndarray, classes: list[Any], *, error: type[AssayError], where: str, **fields: Any
) -> np.ndarray:
    """Map target labels to indices of ``classes`` (strings and numbers compare by text too).

    Raises:
        AssayError (of type ``error``): a label that is not one of ``classes``.
    """
    import numpy as np

    present = np.unique(target)
    lookup = {c: i for i, c in enumerate(classes)}
    lookup.update({str(c): i for i, c in enumerate(classes)})
    try:
        return np.array(
            [lookup[v.item() if hasattr(v, "item") else v] for v in present], dtype=np.int64
        )[np.searchsorted(present, target)]
    except KeyError as exc:
        raise error(
            f"{where} has label {exc.args[0]!r}, which the model does not know "
            f"(classes: {classes})",
            **fields,
        ) from None


def binary_positive_last(
    y: np.ndarray, proba: np.ndarray, positive: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and probabilities of a binary model reordered so the positive class is 1
    (the form every binary metric takes)."""
    if positive == 1:
        return y, proba
    return 1 - y, proba[:, ::-1].copy()
