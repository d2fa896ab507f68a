"""Local servers that speak the providers' documented HTTP and WebSocket protocols, failures included."""
