"""SST umbrella package: the ``sst`` command line and the shared leaf utilities in ``sst.common``."""
