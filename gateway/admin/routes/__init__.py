"""Admin API operations, one module per resource; each exports ``ENDPOINTS``."""
