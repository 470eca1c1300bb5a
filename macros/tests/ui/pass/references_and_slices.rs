#[path = "../support/pass.rs"]
mod support;
use support::*;

use steadfast::resilient;

#[resilient]
async fn total(items: &[u32], scale: &mut u32, name: &str) -> Result<u32, ApiError> {
    *scale += 1;
    Ok(items.iter().sum::<u32>() * *scale + name.len() as u32)
}

fn main() {
    let mut scale = 1;
    assert_eq!(block_on(total(&[1, 2], &mut scale, "ab")).unwrap(), 8);
}