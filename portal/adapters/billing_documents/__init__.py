"""Renderers of billing documents: PDF credit notes and invoices, run sheets, SEPA files."""
