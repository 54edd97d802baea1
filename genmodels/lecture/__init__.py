"""What a lecture uses beyond training: presets, the exported script, EM step by step."""
