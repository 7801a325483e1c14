"""The OpenAI chat completions wire format."""
