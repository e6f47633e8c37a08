"""The long-running service: consumer, per-batch pipeline, scheduler, metrics and health."""
