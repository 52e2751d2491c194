"""Outbound adapters: each turns a Delivery into a call on a provider's system."""
