#![no_main]

use libfuzzer_sys::fuzz_target;

// Any back-channel logout form body: a revocation or a typed error, never a panic or a hang.
fuzz_target!(|data: &[u8]| {
    let _ = tower_authz::fuzzing::logout_form(data);
});
