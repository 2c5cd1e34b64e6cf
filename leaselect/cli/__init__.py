"""The ``leaselect`` command line: ``run``, ``status`` and ``demo``."""
