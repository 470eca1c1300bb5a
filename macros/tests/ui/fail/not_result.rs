use steadfast::resilient;

#[resilient]
async fn ask() -> Option<u32> { Some(1) }

fn main() {}
