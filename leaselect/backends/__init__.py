"""Store adapters, imported lazily by ``leaselect.connect``."""
