// Arguments written `name: Type` are read directly, every other form through syn's argument
// parser: both must give the same expansion. Raw identifiers, a trailing comma, attributes,
// `mut` bindings, paths and generic types after the colon.
#![deny(warnings)]

#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient(attempts = 2)]
async fn forms(
    r#type: u8,
    #[allow(unused_variables)] unused: &str,
    mut counter: u32,
    list: ::std::vec::Vec<u8>,
    map: std::collections::HashMap<u8, Vec<(u8, &str)>>,
    _ignored: u8,
) -> Result<u32, ApiError> {
    counter += 1;
    Ok(u32::from(r#type) + counter + list.len() as u32 + map.len() as u32)
}

#[resilient(attempts = 2)]
async fn one_argument(n: u8,) -> Result<u8, ApiError> {
    Ok(n)
}

fn main() {
    let map = std::collections::HashMap::new();
    assert_eq!(block_on(forms(1, "x", 10, vec![1, 2], map, 0)).unwrap(), 14);
    assert_eq!(block_on(one_argument(5)).unwrap(), 5);
}
