//! Fuzz target: the policy loader never panics and locates what it refuses. The checks
//! live in `privgate_policy_fuzz::policy_load`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| privgate_policy_fuzz::policy_load(data));
