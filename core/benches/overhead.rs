//! Success-path overhead: one call of a trivial async function that succeeds, bare and under
//! each retry wrapper, in the same run. Also prints allocations per call.
//!
//! `cargo bench -p steadfast --bench overhead`

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use backon::{ExponentialBuilder, Retryable};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::future::Ready;
use steadfast::resilient;
use support::{allocations_per_call, ready};

#[global_allocator]
static GLOBAL: support::Counting = support::Counting;

async fn bare(n: u32) -> Result<u32, std::io::Error> {
    Ok(black_box(n))
}

#[resilient]
async fn with_defaults(n: u32) -> Result<u32, std::io::Error> {
    Ok(black_box(n))
}

#[resilient(budget = false)]
async fn without_budget(n: u32) -> Result<u32, std::io::Error> {
    Ok(black_box(n))
}

#[resilient(rpm = 1_000_000_000, burst = 1_000_000)]
async fn with_rate_limit(n: u32) -> Result<u32, std::io::Error> {
    Ok(black_box(n))
}

/// tower's retry middleware around a service that succeeds, with an attempts policy.
#[derive(Clone)]
struct Attempts(usize);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Attempts {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => None,
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            Err(_) => None,
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

fn benches(c: &mut Criterion) {
    use tower::{Service, ServiceExt};
    let svc = tower::service_fn(|n: u32| bare(n));
    let mut tower_retry = tower::retry::Retry::new(Attempts(5), svc);

    let mut group = c.benchmark_group("success path");
    group.bench_function("bare call", |b| b.iter(|| ready(bare(black_box(1)))));
    group.bench_function("#[resilient] defaults", |b| {
        b.iter(|| ready(with_defaults(black_box(1))))
    });
    group.bench_function("#[resilient(budget = false)]", |b| {
        b.iter(|| ready(without_budget(black_box(1))))
    });
    group.bench_function("#[resilient(rpm = large)]", |b| {
        b.iter(|| ready(with_rate_limit(black_box(1))))
    });
    group.bench_function("backon ExponentialBuilder", |b| {
        b.iter(|| ready((|| bare(black_box(1))).retry(ExponentialBuilder::default())))
    });
    group.bench_function("tower retry", |b| {
        b.iter(|| {
            let ready_svc = ready(tower_retry.ready()).unwrap();
            ready(ready_svc.call(black_box(1)))
        })
    });
    #[cfg(feature = "tower")]
    {
        use tower::Layer;
        let mut layered =
            steadfast::tower::PolicyLayer::new(steadfast::Policy::builder().build().unwrap())
                .layer(tower::service_fn(|n: u32| async move {
                    Ok::<_, std::io::Error>(http::Response::new(black_box(n)))
                }));
        group.bench_function("steadfast tower PolicyLayer", |b| {
            b.iter(|| {
                let ready_svc = ready(layered.ready()).unwrap();
                ready(ready_svc.call(black_box(1)))
            })
        });
    }
    group.finish();

    let n = 10_000;
    println!("\nallocations per successful call (over {n} calls):");
    println!(
        "  bare call                  {:.2}",
        allocations_per_call(n, || drop(ready(bare(1))))
    );
    println!(
        "  #[resilient] defaults      {:.2}",
        allocations_per_call(n, || drop(ready(with_defaults(1))))
    );
    println!(
        "  #[resilient(rpm = large)]  {:.2}",
        allocations_per_call(n, || drop(ready(with_rate_limit(1))))
    );
    println!(
        "  backon                     {:.2}",
        allocations_per_call(n, || drop(ready(
            (|| bare(1)).retry(ExponentialBuilder::default())
        )))
    );
    println!(
        "  tower retry                {:.2}",
        allocations_per_call(n, || {
            let s = ready(tower_retry.ready()).unwrap();
            drop(ready(s.call(1)))
        })
    );
}

criterion_group!(group, benches);
criterion_main!(group);
