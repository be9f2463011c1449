"""The studio's browser UI: server-rendered page shells (Jinja2) whose data comes from /api/v1 via small plain JS."""
