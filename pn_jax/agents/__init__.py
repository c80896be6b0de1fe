"""Learners: one file each, pure ``init`` and ``update`` functions."""
