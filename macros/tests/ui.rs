//! Compile-time behaviour of `#[resilient]`: every function shape that must work, and every
//! mistake that must be a clear error pointing at the offending token.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
