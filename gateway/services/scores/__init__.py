"""Information in, scores out (measure 二(三), 三(一)): batches of information records from
collaborating units checked against the catalogue (ingestion), scores computed by the pure core and
kept for the people a change touched (scoring), and the credit office's officers looking up a score
with its breakdown and verifying residents' self-reported honours, donations and volunteering
(officer)."""
