use steadfast::resilient;

#[derive(Debug)]
struct Opaque;

#[resilient]
async fn ask() -> Result<(), Opaque> { Ok(()) }

fn main() {}
