"""Billing: what the network pays partners (payout entries, self-billing credit notes) and
charges advertisers (invoices with the network fee), with VAT, rounding and statuses."""
