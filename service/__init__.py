"""Handover: event-sourced after-school custody and safety handover."""
