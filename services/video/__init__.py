"""VideoService: an image to an H.264 MP4 in the asset store (Ken Burns via PyAV by default)."""
