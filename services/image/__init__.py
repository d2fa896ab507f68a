"""ImageService: prompts to PNG images in the asset store (procedural backend by default)."""
