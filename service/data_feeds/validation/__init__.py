"""The stage that decides what a valid, clean message is."""

from data_feeds.validation.cleaner import CleanResult, DataCleaner, FeedEvent
from data_feeds.validation.cleaner_config import CleanerConfig
from data_feeds.validation.schema_validator import SchemaValidator

__all__ = ["CleanResult", "CleanerConfig", "DataCleaner", "FeedEvent", "SchemaValidator"]
