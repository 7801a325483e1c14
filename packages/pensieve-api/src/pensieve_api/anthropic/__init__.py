"""The Anthropic Messages API wire format."""
