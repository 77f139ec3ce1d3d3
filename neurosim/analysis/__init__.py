"""Analysis of recordings (matplotlib is imported lazily, by the plotting code only)."""

from .stats import cv_isi, mean_rate, population_summary

__all__ = ["cv_isi", "mean_rate", "population_summary"]
