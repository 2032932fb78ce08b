"""Cameras taking transaction snapshots: ``base`` Protocol and values, ``emulated`` device."""
