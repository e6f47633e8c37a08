"""The learning layer: research on stored and external data, training, retraining, evaluation.

- ``ResearchEngine``: import external market data (files, another Redis) without duplicates;
  per-feed behaviour reports (cadence, gaps, volatility, spikes, duplicates, reordering).
- ``TrainingModule``: datasets from stored history through the live feature code; models
  trained in small batches, validated on the most recent data, registered as candidates.
- ``RetrainingLoop``: challenger vs champion on the same recent holdout, promotion on a
  significant log-loss improvement; ``retrain_in_subprocess`` and ``DriftDetector`` for the
  service's scheduler.
- ``ModelRegistry``: versions, signed checkpoints, champion, promotion and rollback.
- ``evaluate_signals``: stored signals against stored outcomes.
"""

from data_feeds.learning_layer.evaluation import EvaluationReport, evaluate_signals
from data_feeds.learning_layer.registry import ModelRegistry, ModelVersion
from data_feeds.learning_layer.research import (
    FeedReport,
    FeedStats,
    Gap,
    ImportSummary,
    ResearchEngine,
    Spike,
)
from data_feeds.learning_layer.retraining import (
    DriftDetector,
    RetrainingDecision,
    RetrainingLoop,
    retrain_in_subprocess,
    settings_from_dict,
    settings_to_dict,
)
from data_feeds.learning_layer.training import (
    Dataset,
    FeatureReplay,
    TrainingModule,
    TrainingResult,
    fit_model,
)

__all__ = [
    "Dataset",
    "DriftDetector",
    "EvaluationReport",
    "FeatureReplay",
    "FeedReport",
    "FeedStats",
    "Gap",
    "ImportSummary",
    "ModelRegistry",
    "ModelVersion",
    "ResearchEngine",
    "RetrainingDecision",
    "RetrainingLoop",
    "Spike",
    "TrainingModule",
    "TrainingResult",
    "evaluate_signals",
    "fit_model",
    "retrain_in_subprocess",
    "settings_from_dict",
    "settings_to_dict",
]
