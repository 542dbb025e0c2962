//! Fuzz target: CSV chunk invariance and no panics. The checks live in
//! `privgate_mask_fuzz::csv_chunks`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| privgate_mask_fuzz::csv_chunks(data));
