"""HTTP edges: authentication, limits, error rendering, health, the Bedrock endpoint and action-group routes."""
