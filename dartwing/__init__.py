"""Dartwing: guaranteed background jobs for multi-tenant Frappe apps."""

__version__ = "0.1.0"
