"""The studio's HTTP API, one router per resource, all under /api/v1 (routes stay thin; services do the work)."""
