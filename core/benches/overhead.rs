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

/// tower's retry with tower's own retry budget (`TpsBudget`, its defaults), used the way tower's
/// documentation shows: every success deposits, every retry withdraws. The like-for-like
/// comparison for `#[resilient]` with its defaults, which keep a retry budget too.
#[derive(Clone)]
struct Budgeted(std::sync::Arc<tower::retry::budget::TpsBudget>);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Budgeted {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        use tower::retry::budget::Budget;
        match result {
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => self.0.withdraw().then(|| std::future::ready(())),
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// The cheapest piece of state shared between callers that a wrapper can keep: one relaxed
/// atomic add per call (a call counter). Not a wrapper; the floor under any that counts.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn counted(n: u32) -> Result<u32, std::io::Error> {
    CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(black_box(n))
}

fn benches(c: &mut Criterion) {
    use tower::{Service, ServiceExt};
    let svc = tower::service_fn(|n: u32| bare(n));
    let mut tower_retry = tower::retry::Retry::new(Attempts(5), svc);
    let budget = std::sync::Arc::new(tower::retry::budget::TpsBudget::default());
    let mut tower_budgeted = tower::retry::Retry::new(Budgeted(budget), svc);

    let mut group = c.benchmark_group("success path");
    group.bench_function("bare call", |b| b.iter(|| ready(bare(black_box(1)))));
    group.bench_function("bare call + atomic add", |b| {
        b.iter(|| ready(counted(black_box(1))))
    });
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
    group.bench_function("tower retry + TpsBudget", |b| {
        b.iter(|| {
            let ready_svc = ready(tower_budgeted.ready()).unwrap();
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
        "  tower retry + TpsBudget    {:.2}",
        allocations_per_call(n, || {
            let s = ready(tower_budgeted.ready()).unwrap();
            drop(ready(s.call(1)))
        })
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
