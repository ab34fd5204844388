"""Hypothesis strategies for NTP instances (stub)."""
