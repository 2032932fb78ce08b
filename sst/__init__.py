"""SST umbrella package: the ``sst`` command line and the shared leaf utilities.

The utilities live in ``sst.common``.
"""
