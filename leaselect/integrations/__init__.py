"""Optional integrations with job runners; each needs its extra, e.g. ``leaselect[apscheduler]``."""
