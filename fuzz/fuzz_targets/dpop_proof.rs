#![no_main]

use libfuzzer_sys::fuzz_target;

// Any `DPoP` header value: the proof key's thumbprint or a typed error, never a panic or a hang.
fuzz_target!(|data: &[u8]| {
    let _ = tower_authz::fuzzing::dpop_proof(data);
});
