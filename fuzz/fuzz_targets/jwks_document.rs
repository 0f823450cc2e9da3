#![no_main]

use libfuzzer_sys::fuzz_target;

// Any input: an `Ok` or a typed error, never a panic or a hang.
fuzz_target!(|data: &[u8]| {
    let _ = tower_authz::fuzzing::jwks_document(data);
});
