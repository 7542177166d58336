"""Bank accounts, bank statements (ISO 20022 CAMT.053 and CSV), matching to payouts, cash deposits and
supplier payments, and the reconciliation of each bank account to its statement (issue 17, decision
0037)."""
