"""Aggregates and their events: the facts of an after-school afternoon."""
