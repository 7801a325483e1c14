"""pensieve_loader: Model loading: resolves what a user names as a model into a validated MLX model directory. Depends on core only; never imports MLX."""

__all__: tuple[str, ...] = ()
