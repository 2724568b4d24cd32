"""A minimal multi-tenant Django app used by the orgguard.runtime tests."""
