"""genmedia: durable prompt-to-image and prompt-to-video jobs over gRPC, driven by Temporal."""
