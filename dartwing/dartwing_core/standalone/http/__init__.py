"""The standalone HTTP server: the Frappe-compatible job API without a bench."""
