"""Legal invoices: in the producer's name under a billing mandate, gapless numbering, credit notes, Factur-X."""
