"""The serving kit every service is built on: the gRPC server with health, reflection, metrics,
auth and graceful shutdown; logs; worker threads; request decoding; the ReportProgress batcher."""
