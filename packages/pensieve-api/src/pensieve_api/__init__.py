"""pensieve_api: Wire schemas (msgspec) for the Anthropic Messages and OpenAI chat APIs. Stands alone: no other pensieve package."""

__all__: tuple[str, ...] = ()
