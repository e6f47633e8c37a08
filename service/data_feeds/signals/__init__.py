"""From one symbol's indicators to a trading signal: features, the generator, delayed labels."""

from data_feeds.signals.features import FEATURE_NAMES, features
from data_feeds.signals.generator import SignalGenerator, build_model
from data_feeds.signals.scoring import Scorecard

__all__ = ["FEATURE_NAMES", "Scorecard", "SignalGenerator", "build_model", "features"]
