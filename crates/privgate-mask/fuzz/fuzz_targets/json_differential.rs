//! Fuzz target: JSON chunk invariance and differential agreement with serde_json and the
//! reference masker. The checks live in `privgate_mask_fuzz::json_differential`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| privgate_mask_fuzz::json_differential(data));
