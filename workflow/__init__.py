"""Ativa: customer lifecycle (Ativo/Inativo) for internet providers."""
