"""Models outside the training script: streaming inference."""

from .streaming import StreamingLM, StreamStates
from .streaming_forecast import StreamForecast, StreamingForecaster

__all__ = ["StreamingLM", "StreamStates", "StreamingForecaster", "StreamForecast"]
