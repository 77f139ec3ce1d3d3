"""Partitioning over MPI ranks (not yet: see the MPI issue)."""
