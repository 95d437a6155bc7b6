"""Run traces: the span recorder, Bedrock-shaped rendering, OpenTelemetry export and the timeline view."""
