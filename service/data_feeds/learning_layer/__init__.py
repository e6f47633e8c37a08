"""The learning layer: research on stored and external data, training, retraining, evaluation.

- ``ResearchEngine``: import external market data (files, another Redis) without duplicates;
  per-feed behaviour reports (cadence, gaps, volatility, spikes, duplicates, reordering).
- ``TrainingModule``: datasets from stored history through the live feature code; models
  trained in small batches, validated on the most recent data, registered as candidates.
- ``RetrainingLoop``: challenger vs champion on the same recent holdout, promotion through
  the ``PromotionGate`` (a log-loss improvement over the champion and the no-skill baseline,
  significant under a block bootstrap, ``skill_test.BlockBootstrap``, and accuracy >= 0.5);
  ``retrain_in_subprocess`` and ``DriftDetector`` for the service's scheduler.
- ``ModelRegistry``: versions, signed checkpoints, champion, promotion and rollback.
- ``evaluate_signals``: stored signals against stored outcomes.
"""

from data_feeds.learning_layer.evaluation import EvaluationReport, evaluate_signals
from data_feeds.learning_layer.promotion import GateVerdict, PromotionGate
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
from data_feeds.learning_layer.skill_test import BlockBootstrap, SkillTest, rows_per_horizon
from data_feeds.learning_layer.training import (
    Dataset,
    FeatureReplay,
    TrainingModule,
    TrainingResult,
    fit_model,
)

__all__ = [
    "BlockBootstrap",
    "Dataset",
    "DriftDetector",
    "EvaluationReport",
    "FeatureReplay",
    "FeedReport",
    "FeedStats",
    "Gap",
    "GateVerdict",
    "ImportSummary",
    "ModelRegistry",
    "ModelVersion",
    "PromotionGate",
    "ResearchEngine",
    "RetrainingDecision",
    "RetrainingLoop",
    "SkillTest",
    "Spike",
    "TrainingModule",
    "TrainingResult",
    "evaluate_signals",
    "fit_model",
    "retrain_in_subprocess",
    "rows_per_horizon",
    "settings_from_dict",
    "settings_to_dict",
]
