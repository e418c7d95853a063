"""Scenario fields that were renamed, so files written for an older pbrsim still load.

A renamed field is read under its old name with a ``FutureWarning`` naming the
new one. Renames are applied to each layer of fields on its own (each file of
an ``extends:`` chain, each set of overrides, each swept path) before layers
are merged, so an old name in a child file still overrides the new name in its
parent.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["RENAMED_FIELDS", "upgrade_fields", "upgrade_path"]

#: Old dotted path -> new dotted path (same parent).
RENAMED_FIELDS: dict[str, str] = {
    # "months" alone read as the contract's length; it is the period in which referrals are made.
    "contract.months": "contract.referral_months",
}


def upgrade_path(path: str) -> str:
    """The current name of a dotted field path (``contract.months`` -> ``contract.referral_months``)."""
    for old, new in RENAMED_FIELDS.items():
        if path == old or path.startswith(old + "."):
            return new + path[len(old):]
    return path


def _warn(old: str, new: str) -> None:
    warnings.warn(f"scenario field '{old}' is now '{new}'; the old name will be removed in pbrsim 1.0",
                  FutureWarning, stacklevel=4)


def rename_in(node: dict[str, Any], old_leaf: str, new_leaf: str, where: str) -> dict[str, Any]:
    """``node`` with ``old_leaf`` renamed to ``new_leaf`` (a copy if anything changed).

    Raises:
        ValueError: both names are given in the same mapping (which one is meant is unclear).

    """
    if old_leaf not in node:
        return node
    if new_leaf in node:
        raise ValueError(f"give '{where}{new_leaf}' or its old name '{where}{old_leaf}', not both")
    _warn(where + old_leaf, where + new_leaf)
    return {(new_leaf if k == old_leaf else k): v for k, v in node.items()}


def upgrade_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """One layer of raw scenario fields with every renamed field under its current name.

    Raises:
        ValueError: a field is given under both its old and its new name.

    """
    for old, new in RENAMED_FIELDS.items():
        *parents, old_leaf = old.split(".")
        new_leaf = new.rsplit(".", 1)[-1]
        node: Any = raw
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or old_leaf not in node:
            continue
        raw = _replace(raw, parents, rename_in(node, old_leaf, new_leaf, "".join(p + "." for p in parents)))
    return raw


def _replace(raw: dict[str, Any], parents: list[str], node: dict[str, Any]) -> dict[str, Any]:
    if not parents:
        return node
    head, *rest = parents
    return {**raw, head: _replace(raw[head], rest, node)}
