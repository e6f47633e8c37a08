"""Serving modes: how the live generator treats a prediction once its outcome has matured.

- ``online`` (the default): the matured prediction is scored on the live scorecard **and**
  learned (``model.learn_one``), river's delayed progressive validation, live;
- ``frozen``: it is scored only; the model served never changes.

The mode is a setting (``DATA_FEEDS_SERVING``), recorded with every model version the training
module registers (``ModelVersion.serving``), and the mode in which training, retraining and
replays score a model (``learning_layer.serving.serve_holdout``), so the model served is the
model validated.
"""

from __future__ import annotations

from typing import Final

ONLINE: Final = "online"
FROZEN: Final = "frozen"
SERVING_MODES: Final = (ONLINE, FROZEN)


def check_serving(mode: str) -> str:
    """``mode`` if it is a serving mode, else ``ValueError``."""
    if mode not in SERVING_MODES:
        raise ValueError(f"serving mode must be one of {', '.join(SERVING_MODES)}, got {mode!r}")
    return mode
