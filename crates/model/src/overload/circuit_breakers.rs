//! Envoy's per-cluster circuit breakers.

/// Envoy's circuit-breaking thresholds of a cluster
/// (<https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/circuit_breaking>,
/// `config.cluster.v3.CircuitBreakers.Thresholds`; defaults 1024, 1024, 1024 and 3). Here a
/// cluster is a backend group (`backends[i]` of an experiment file, all its replicas): the
/// balancer counts what it has outstanding to the group, and an attempt that would pass a
/// threshold *overflows*: it is answered 503 at once, never sent (Envoy's
/// `upstream_rq_pending_overflow`, counted as `overflow_ratio`).
///
/// - `max_requests`: attempts outstanding to the cluster at once (sent, not yet answered).
/// - `max_connections`, `max_pending_requests`: the HTTP/1.1 connection pool, one request per
///   connection: at most `max_connections` attempts hold a connection and at most
///   `max_pending_requests` more wait for one, so at most their sum are outstanding. (The
///   model does not hold pending attempts at the balancer; it sends them on to the backend's
///   queue, where they wait instead.)
/// - `max_retries`: retries outstanding to the cluster at once; a retry beyond it is not made
///   (Envoy's `upstream_rq_retry_overflow`) and the request ends with its attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreakers {
    /// Connections to the cluster, ≥ 1 (default 1024).
    pub max_connections: u32,
    /// Requests waiting for a connection, ≥ 0 (default 1024).
    pub max_pending_requests: u32,
    /// Requests outstanding, ≥ 1 (default 1024).
    pub max_requests: u32,
    /// Retries outstanding, ≥ 0 (default 3).
    pub max_retries: u32,
}

impl Default for CircuitBreakers {
    /// Envoy's defaults.
    fn default() -> Self {
        CircuitBreakers {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
        }
    }
}

impl CircuitBreakers {
    /// Attempts that may be outstanding at once.
    pub fn max_outstanding(&self) -> u64 {
        u64::from(self.max_requests)
            .min(u64::from(self.max_connections) + u64::from(self.max_pending_requests))
    }
}

/// One cluster's thresholds and what is outstanding to it.
#[derive(Clone, Debug)]
struct Cluster {
    max_outstanding: u64,
    max_retries: u32,
    outstanding: u64,
    retries: u32,
}

/// The circuit breakers of every cluster that has them, while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct ClusterBreakers {
    /// Per backend, the index of its cluster in `clusters`, if its group has breakers.
    of_backend: Vec<Option<u32>>,
    clusters: Vec<Cluster>,
    /// Per request key, the backend whose cluster holds its retry (`u32::MAX`: none).
    retry_at: Vec<u32>,
}

impl ClusterBreakers {
    /// Breakers for backends whose `(group, thresholds)` are given; `None` when no backend has
    /// any.
    pub fn new(backends: impl Iterator<Item = (u32, Option<CircuitBreakers>)>) -> Option<Self> {
        let mut groups: Vec<u32> = Vec::new();
        let mut clusters = Vec::new();
        let of_backend: Vec<Option<u32>> = backends
            .map(|(group, limits)| {
                let limits = limits?;
                let index = match groups.iter().position(|&g| g == group) {
                    Some(i) => i,
                    None => {
                        groups.push(group);
                        clusters.push(Cluster {
                            max_outstanding: limits.max_outstanding(),
                            max_retries: limits.max_retries,
                            outstanding: 0,
                            retries: 0,
                        });
                        clusters.len() - 1
                    }
                };
                Some(index as u32)
            })
            .collect();
        (!clusters.is_empty()).then_some(ClusterBreakers { of_backend, clusters, retry_at: Vec::new() })
    }

    fn cluster(&mut self, backend: usize) -> Option<&mut Cluster> {
        let index = (*self.of_backend.get(backend)?)?;
        self.clusters.get_mut(index as usize)
    }

    /// Whether an attempt to `backend` fits under its cluster's thresholds; if it does, it is
    /// counted as outstanding.
    #[inline]
    pub fn admit(&mut self, backend: usize) -> bool {
        match self.cluster(backend) {
            None => true,
            Some(c) if c.outstanding < c.max_outstanding => {
                c.outstanding += 1;
                true
            }
            Some(_) => false,
        }
    }

    /// An attempt admitted to `backend` is no longer outstanding.
    #[inline]
    pub fn release(&mut self, backend: usize) {
        if let Some(c) = self.cluster(backend) {
            c.outstanding = c.outstanding.saturating_sub(1);
        }
    }

    /// Whether a retry of `request` after an attempt at `backend` fits under its cluster's
    /// `max_retries` (always, without breakers there); if it does, it holds its place until
    /// [`ClusterBreakers::retry_done`].
    #[inline]
    pub fn admit_retry(&mut self, request: u32, backend: usize) -> bool {
        let Some(c) = self.cluster(backend) else { return true };
        if c.retries >= c.max_retries {
            return false;
        }
        c.retries += 1;
        let i = request as usize;
        if self.retry_at.len() <= i {
            self.retry_at.resize(i + 1, u32::MAX);
        }
        self.retry_at[i] = backend as u32;
        true
    }

    /// The retry `request` held (if any) is over: answered, or the request ended.
    #[inline]
    pub fn retry_done(&mut self, request: u32) {
        let Some(slot) = self.retry_at.get_mut(request as usize) else { return };
        let backend = std::mem::replace(slot, u32::MAX);
        if backend != u32::MAX
            && let Some(c) = self.cluster(backend as usize)
        {
            c.retries = c.retries.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_counts_the_attempts_of_all_its_backends() {
        let limits = CircuitBreakers { max_requests: 3, ..CircuitBreakers::default() };
        let mut b = ClusterBreakers::new([(0, Some(limits)), (0, Some(limits)), (1, None)].into_iter())
            .expect("two have breakers");
        assert!(b.admit(0) && b.admit(1) && b.admit(0));
        assert!(!b.admit(1), "three outstanding to the cluster");
        assert!(b.admit(2), "no breakers on the other group");
        b.release(1);
        assert!(b.admit(1));
    }

    #[test]
    fn the_connection_pool_bounds_outstanding_attempts_too() {
        let limits =
            CircuitBreakers { max_connections: 2, max_pending_requests: 1, ..CircuitBreakers::default() };
        assert_eq!(limits.max_outstanding(), 3);
        assert_eq!(CircuitBreakers::default().max_outstanding(), 1024);
    }

    #[test]
    fn retries_beyond_max_retries_overflow() {
        let mut b = ClusterBreakers::new([(0, Some(CircuitBreakers::default()))].into_iter()).unwrap();
        assert_eq!([b.admit_retry(7, 0), b.admit_retry(8, 0), b.admit_retry(9, 0)], [true; 3]);
        assert!(!b.admit_retry(10, 0), "three retries outstanding");
        b.retry_done(8);
        b.retry_done(8);
        b.retry_done(11);
        assert!(b.admit_retry(10, 0), "one returned, once");
        assert!(!b.admit_retry(12, 0));
        assert_eq!(ClusterBreakers::new([(0, None)].into_iter()).map(|_| ()), None);
    }
}
