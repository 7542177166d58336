"""Gateway settlements: gateways as master data, settlement files imported once, their lines matched
to our captures and refunds, posted through the ledger's rules, and what disagrees kept as mismatches
(issue 17, decision 0035)."""
