"""Generated from protos/genmedia/v1 by `make protos`; never edit by hand."""
