//! The pending-event set, benched alone with the classic hold model: keep `n` events pending,
//! and repeatedly pop the earliest and push one new event an exponential time later. Compares
//! the engine's `EventQueue` (a `BinaryHeap` ordered by `(time, seq)` while small, a ladder of
//! time buckets behind a small heap past 4096 pending) with two alternatives design rule 6
//! names: a bare `BinaryHeap` of one `u128` key `(time << 64) | seq` (what `EventQueue` was at
//! every size before the ladder), and the `priority-queue` crate (a heap with an index, which
//! pays for in-place priority changes). The first two also run with as many events pending as
//! a fleet of 10,000 and 100,000 busy backends has completions pending (16,384 and 131,072):
//! the queue's own cost of a large fleet (issue 10).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use priority_queue::PriorityQueue;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use stacksim_engine::{EventQueue, SimRng, SimTime};

const HOLDS: u64 = 100_000;

/// Pending-set sizes of large fleets, not run for `priority-queue`.
const FLEET_SIZES: [usize; 2] = [16_384, 131_072];

/// A payload the size of the model's events.
#[derive(Clone, Copy)]
struct Payload(u32, u32, u32);

/// Exponential increments in nanoseconds (mean 1 ms), drawn ahead so all queues see the same.
fn increments() -> Vec<u64> {
    let mut rng = SimRng::seed_from_u64(1);
    let exp = Exp::new(1.0).unwrap();
    (0..HOLDS + FLEET_SIZES[1] as u64).map(|_| (exp.sample(&mut rng) * 1e6) as u64 + 1).collect()
}

fn hold(c: &mut Criterion) {
    let inc = increments();
    let mut group = c.benchmark_group("hold");
    group.throughput(Throughput::Elements(HOLDS));
    group.sample_size(20);
    for n in [16_usize, 256, 4096].into_iter().chain(FLEET_SIZES) {
        group.bench_with_input(BenchmarkId::new("EventQueue", n), &n, |b, &n| {
            b.iter(|| {
                let mut q = EventQueue::new();
                for (i, &t) in inc[..n].iter().enumerate() {
                    q.schedule(SimTime(t), Payload(i as u32, 0, 0));
                }
                let mut sum = 0u64;
                for i in 0..HOLDS as usize {
                    let (t, p) = q.pop().unwrap();
                    sum = sum.wrapping_add(u64::from(p.0));
                    q.schedule(SimTime(t.0 + inc[n + i % 4096]), p);
                }
                sum
            })
        });
        group.bench_with_input(BenchmarkId::new("BinaryHeap-u128-key", n), &n, |b, &n| {
            b.iter(|| {
                let mut q: BinaryHeap<(Reverse<u128>, u32, u32, u32)> = BinaryHeap::new();
                let mut seq = 0u128;
                let mut push = |q: &mut BinaryHeap<_>, t: u64, p: Payload| {
                    q.push((Reverse((u128::from(t) << 64) | seq), p.0, p.1, p.2));
                    seq += 1;
                };
                for (i, &t) in inc[..n].iter().enumerate() {
                    push(&mut q, t, Payload(i as u32, 0, 0));
                }
                let mut sum = 0u64;
                for i in 0..HOLDS as usize {
                    let (Reverse(key), a, b2, c2) = q.pop().unwrap();
                    sum = sum.wrapping_add(u64::from(a));
                    push(&mut q, (key >> 64) as u64 + inc[n + i % 4096], Payload(a, b2, c2));
                }
                sum
            })
        });
        if FLEET_SIZES.contains(&n) {
            continue;
        }
        group.bench_with_input(BenchmarkId::new("priority-queue", n), &n, |b, &n| {
            b.iter(|| {
                let mut q: PriorityQueue<u64, Reverse<(u64, u64)>> = PriorityQueue::new();
                let mut seq = 0u64;
                for &t in &inc[..n] {
                    q.push(seq, Reverse((t, seq)));
                    seq += 1;
                }
                let mut sum = 0u64;
                for i in 0..HOLDS as usize {
                    let (id, Reverse((t, _))) = q.pop().unwrap();
                    sum = sum.wrapping_add(id);
                    q.push(seq, Reverse((t + inc[n + i % 4096], seq)));
                    seq += 1;
                }
                sum
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hold);
criterion_main!(benches);
