//! Fuzz target: NDJSON chunk invariance, and JSON lines in give JSON lines out. The
//! checks live in `privgate_mask_fuzz::ndjson_chunks`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| privgate_mask_fuzz::ndjson_chunks(data));
