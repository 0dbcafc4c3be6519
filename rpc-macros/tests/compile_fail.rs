//! Compile-fail tests: the error messages of `#[remote]` (server side) and `#[interface]`
//! (client side) for common mistakes, pinned in `tests/ui/*.stderr`.
//!
//! After an intended change of a message, regenerate the pins with
//! `TRYBUILD=overwrite cargo test -p rpc-macros --test compile_fail` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
