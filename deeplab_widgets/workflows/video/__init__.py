"""Video: segment every frame of a clip (`segment_video`), smooth over time, measure flicker, write videos."""

from .reader import DecodedFrame, VideoInfo, VideoReader, video_info
from .segment import VideoFrameResult, VideoFrames, model_size, segment_video
from .temporal import Flicker, FlickerMeter, ProbabilitySmoother, flicker, top_class
from .throughput import VideoThroughput, video_throughput
from .writer import VideoWriter

__all__ = [
    "DecodedFrame",
    "Flicker",
    "FlickerMeter",
    "ProbabilitySmoother",
    "VideoFrameResult",
    "VideoFrames",
    "VideoInfo",
    "VideoReader",
    "VideoThroughput",
    "VideoWriter",
    "flicker",
    "model_size",
    "segment_video",
    "top_class",
    "video_info",
    "video_throughput",
]
