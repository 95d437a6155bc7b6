"""Small Protocols named by capability. Adapters implement them; everything else depends only on these."""
