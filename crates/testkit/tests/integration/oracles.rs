//! Exact values from the production balancers' documentation and papers.

use proptest::prelude::*;
use stacksim_engine::rng::stream;
use stacksim_model::policy::*;
use stacksim_testkit::keys_moved;
use stacksim_testkit::strategy::backends_with_max;

use super::{config, states};

fn letters(policy: &mut dyn Policy, weights: &[u32], n: usize) -> String {
    let backends = states(weights);
    let mut rng = stream(1, "policy");
    policy.on_backends_changed(&backends);
    (0..n)
        .map(|_| {
            let b = policy.pick(&backends, &RequestInfo::default(), &mut rng).unwrap();
            (b'a' + b as u8) as char
        })
        .collect()
}

#[test]
fn nginx_weights_5_1_1_give_a_a_b_a_c_a_a() {
    assert_eq!(letters(&mut RoundRobin::new(), &[5, 1, 1], 7), "aabacaa");
}

#[test]
fn haproxy_static_rr_weights_5_1_1_give_a_a_a_b_a_a_c() {
    assert_eq!(letters(&mut StaticRoundRobin::new(), &[5, 1, 1], 7), "aaabaac");
}

#[test]
fn envoy_p2c_over_two_hosts_picks_the_busier_a_quarter_of_the_time() {
    for mut policy in
        [Box::new(RandomChoices::power_of_two()) as Box<dyn Policy>, Box::new(LeastRequest::new())]
    {
        let mut backends = states(&[1, 1]);
        backends[1].in_flight = 3;
        policy.on_backends_changed(&backends);
        let mut rng = stream(7, "policy");
        let n = 200_000;
        let busier =
            (0..n).filter(|_| policy.pick(&backends, &RequestInfo::default(), &mut rng) == Some(1)).count();
        let p = busier as f64 / n as f64;
        // Binomial standard deviation at n = 200,000: 0.00097; allow four.
        assert!((p - 0.25).abs() < 4.0 * (0.25 * 0.75 / n as f64).sqrt(), "{p}");
    }
}

#[test]
fn envoy_weight_2_with_4_active_requests_has_effective_weight_0_4() {
    assert_eq!(LeastRequest::effective_weight(2, 4, 1.0), 0.4);
}

#[test]
fn maglev_weights_1_2_fill_21846_and_43691_of_65537() {
    let mut maglev = Maglev::new(65_537);
    maglev.on_backends_changed(&states(&[1, 2]));
    assert_eq!(maglev.entries(2), [21_846, 43_691]);
}

#[test]
fn ring_hash_moves_about_one_nth_while_source_hash_moves_most() {
    let backends = states(&[1; 10]);
    let keys: Vec<u64> = (0..50_000).collect();
    let ring = keys_moved(&mut RingHash::new(160), &backends, 4, &keys);
    let modulo = keys_moved(&mut SourceHash::new(), &backends, 4, &keys);
    // Ring: only the leaver's keys, about 1/10 (its share of a 160-point-per-host ring).
    assert_eq!(ring.moved, ring.forced);
    assert!((0.07..0.13).contains(&ring.moved_fraction()), "{ring:?}");
    // Modulo: a key stays only if hash mod 10 and hash mod 9 agree on its backend.
    assert!(modulo.moved_fraction() > 0.8, "{modulo:?}");
    assert!(modulo.extra_fraction() > 0.7, "{modulo:?}");
}

proptest! {
    #![proptest_config(config(128))]

    /// However skewed the keys and however loaded the backends, bounded-load hashing never
    /// lets an equally weighted backend's in-flight count exceed ceil(factor × mean) when it
    /// places a request.
    #[test]
    fn bounded_load_never_exceeds_ceil_factor_times_mean(
        loads in backends_with_max(64),
        factor in 1.0_f64..3.0,
        keys in proptest::collection::vec(0_u64..8, 1..200),
    ) {
        // Equal weights, everyone eligible, loads kept at most the bound to start with.
        let mut backends: Vec<BackendState> = loads
            .iter()
            .map(|b| BackendState { weight: 1, eligible: true, in_flight: 0, latency: b.latency })
            .collect();
        let factor = (factor * 100.0).round() / 100.0; // HAProxy's whole percent
        let mut policy = BoundedLoadHash::new(factor);
        policy.on_backends_changed(&backends);
        let mut rng = stream(1, "policy");
        let n = backends.len() as f64;
        for key in keys {
            let request = RequestInfo { key, ..Default::default() };
            let b = policy.pick(&backends, &request, &mut rng).unwrap();
            backends[b].in_flight += 1;
            policy.on_load_changed(b, &backends[b]);
            let total: u32 = backends.iter().map(|s| s.in_flight).sum();
            let bound = (factor * f64::from(total) / n - 1e-9).ceil() as u32;
            prop_assert!(
                backends[b].in_flight <= bound.max(1),
                "backend {b} has {} in flight; bound ceil({factor} × {total}/{n}) = {bound}",
                backends[b].in_flight
            );
        }
    }
}
