"""orgguard: tenant-isolation linting and fail-closed runtime helpers for multi-tenant SaaS apps."""

__version__ = "0.1.0"

__all__ = ["__version__"]
