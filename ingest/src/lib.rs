//! Strata ingestion: remote-write 1.0/2.0 and text-format decoding, validation. (In progress.)
