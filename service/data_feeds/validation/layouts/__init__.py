"""Adapters of the layouts the validator reads: ours (``native``) and cryptofeed's."""
